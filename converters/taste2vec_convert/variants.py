"""The quantization variants an export builds and gates (no heavy imports: the CLI's --help reads them)."""

VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
VARIANT_DOC = {
    "float32": "as converted (float weights and activations)",
    "float16": "float16 weights, float32 compute",
    "dynamic_int8": "int8 weights (embedding per-tensor, layers per-channel), float activations quantized on the fly",
    "int8": "full integer: int8 weights and int8 activations, calibrated on representative records; "
            "float inputs/outputs are (de)quantized by the runtime from the tensor's scale/zero point",
}
