"""PyTorch student -> TFLite (litert-torch), quantization variants (ai-edge-quantizer), op inspection.

Each step is a function from artefact to artefact (bytes in, bytes out):

    f32 = to_tflite(student)                        # per length bucket: embed_16 and embed_16_c0, ...
    variants = quantize_variants(f32, calibration)  # float32 / float16 / dynamic_int8 / int8
    ops = list_ops(variants["int8"])                # refuse anything that is not a builtin op

Conversion strips the long debug tensor names litert-torch derives from the module path (they were a third of
the file); signature input/output names are kept.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from taste2vec.runtime import CONTEXT_INPUTS, signature_name  # noqa: F401  (signature_name re-exported)
from taste2vec_reference.errors import ToolkitError
from taste2vec_reference.noise import verbose_requested

from .student import SignatureModule, Student, sample_inputs
from .variants import VARIANT_DOC, VARIANTS  # noqa: F401  (re-exported)



class ConversionError(ToolkitError):
    """A model cannot be converted, or converts into something the phone cannot run."""


def signature_names(buckets: Sequence[int]) -> list[str]:
    """Every signature of a model, in file order: per bucket the full graph, then the one without context."""
    return [signature_name(b, c) for b in buckets for c in (True, False)]


@contextlib.contextmanager
def _quiet():
    """litert-torch, the quantizer and the MLIR converter report progress on stdout, stderr and (native absl
    lines) file descriptor 2: keep the export's own output readable. What they wrote is shown when the block
    fails, and always with ``TASTE2VEC_VERBOSE=1``."""
    if verbose_requested():
        yield
        return
    buf = io.StringIO()
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as native:
        os.dup2(native.fileno(), 2)
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                yield
        except BaseException:
            os.dup2(saved, 2)
            native.seek(0)
            sys.stderr.write(buf.getvalue() + native.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            logging.getLogger().setLevel(level)


def to_tflite(student: Student, buckets: Sequence[int] | None = None, strip_names: bool = True) -> bytes:
    """Convert the student to a float32 TFLite flatbuffer with two signatures per token-length bucket: the full
    graph, and the one for records without context snapshots (no context inputs, no LSTM: half the work)."""
    with _quiet():  # the first import loads TensorFlow, which prints native notices
        import litert_torch

    student = student.eval()
    module = SignatureModule(student).eval()
    conv = litert_torch.Converter()
    for length in buckets or student.cfg.buckets:
        for context in (True, False):
            conv.signature(signature_name(length, context), module,
                           sample_kwargs=sample_inputs(student.cfg, length, context=context))
    with _quiet():
        model = bytes(conv.convert().model_content())
    check_builtin_only(model)
    return strip_tensor_names(model) if strip_names else model


def strip_tensor_names(model: bytes) -> bytes:
    """Replace internal tensor names by short ones (signature names are kept; they live in SignatureDefs)."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    obj = fbu.read_model_from_bytearray(bytearray(model))
    for si, sg in enumerate(obj.subgraphs):
        for ti, t in enumerate(sg.tensors):
            t.name = f"s{si}t{ti}"
    return bytes(fbu.convert_object_to_bytearray(obj))


def drop_tensor_names(model: bytes) -> bytes:
    """The flatbuffer without tensor names (2 % of the shipped file: ~2,100 tensors over four bucket subgraphs).
    Nothing reads them at run time: inputs and outputs are found through the SignatureDefs, whose names stay, as
    do the subgraph names. Weights and operators are untouched, so outputs are bit-identical (tested). Applied
    to every variant after quantization (the quantizer selects tensors by name)."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    obj = fbu.read_model_from_bytearray(bytearray(model))
    for sg in obj.subgraphs:
        for t in sg.tensors:
            t.name = None
    return bytes(fbu.convert_object_to_bytearray(obj))


@dataclass(frozen=True)
class OpReport:
    """Operator usage of a flatbuffer."""

    builtin: dict[str, int]
    custom: dict[str, int]

    @property
    def flex(self) -> list[str]:
        return sorted(k for k in self.custom if k.startswith("Flex"))

    def to_dict(self) -> dict:
        return {"builtin": dict(sorted(self.builtin.items())), "custom": dict(sorted(self.custom.items()))}


def list_ops(model: bytes) -> OpReport:
    """Count the operators of every subgraph by name (builtin vs custom; Flex ops are custom ``Flex*``)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.Model.GetRootAs(model, 0)
    codes = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            codes.append(("custom", (oc.CustomCode() or b"?").decode()))
        else:
            codes.append(("builtin", names.get(code, f"BUILTIN_{code}")))
    builtin: dict[str, int] = {}
    custom: dict[str, int] = {}
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            kind, name = codes[sg.Operators(o).OpcodeIndex()]
            target = builtin if kind == "builtin" else custom
            target[name] = target.get(name, 0) + 1
    return OpReport(builtin, custom)


def check_builtin_only(model: bytes | OpReport) -> OpReport:
    """Raise ConversionError if the model (or its op report) needs Flex (SELECT_TF_OPS) or any custom op."""
    ops = model if isinstance(model, OpReport) else list_ops(model)
    if ops.custom:
        kind = "Flex (SELECT_TF_OPS)" if ops.flex else "custom"
        raise ConversionError(f"model needs {kind} ops {sorted(ops.custom)}; only builtin TFLite ops run in the "
                              f"plain LiteRT runtime on phones. Rewrite the layer with builtin-friendly torch ops.")
    return ops


CalibrationData = Mapping[str, Sequence[Mapping[str, np.ndarray]]]


def quantize(model: bytes, variant: str, calibration: CalibrationData | None = None) -> bytes:
    """One quantization variant of a float32 flatbuffer (see ``VARIANT_DOC``)."""
    with _quiet():  # the first import loads TensorFlow, which prints native notices
        from ai_edge_quantizer import qtyping, quantizer
        from ai_edge_quantizer.algorithm_manager import AlgorithmName

    if variant == "float32":
        return drop_tensor_names(model)
    Op, G = qtyping.TFLOperationName, qtyping.QuantGranularity
    q = quantizer.Quantizer(bytearray(model))
    if variant == "float16":
        q.add_weight_only_config(regex=".*", operation_name=Op.ALL_SUPPORTED, num_bits=16,
                                 algorithm_key=AlgorithmName.FLOAT_CASTING)
    elif variant == "dynamic_int8":
        q.add_dynamic_config(regex=".*", operation_name=Op.FULLY_CONNECTED, num_bits=8)
        q.add_dynamic_config(regex=".*", operation_name=Op.EMBEDDING_LOOKUP, num_bits=8, granularity=G.TENSORWISE)
    elif variant == "int8":
        q.add_static_config(regex=".*", operation_name=Op.ALL_SUPPORTED, activation_num_bits=8, weight_num_bits=8)
        q.add_weight_only_config(regex=".*", operation_name=Op.EMBEDDING_LOOKUP, num_bits=8,
                                 granularity=G.TENSORWISE)
    else:
        raise ValueError(f"unknown variant {variant!r}; known: {VARIANTS}")
    with _quiet():
        result = None
        if q.need_calibration:
            if not calibration:
                raise ConversionError(f"variant {variant} needs calibration data (representative records)")
            result = q.calibrate(dict(calibration), num_threads=1)
        out = bytes(q.quantize(result, enable_progress_report=False, enable_progress_bar=False).quantized_model)
    check_builtin_only(out)
    return drop_tensor_names(out)


def quantize_variants(model: bytes, calibration: CalibrationData | None,
                      variants: Iterable[str] = VARIANTS) -> dict[str, bytes]:
    """All requested variants of a float32 flatbuffer."""
    return {v: quantize(model, v, calibration) for v in variants}


def calibration_inputs(student_inputs: Iterable[Mapping[str, torch.Tensor | np.ndarray]],
                       buckets: Sequence[int]) -> dict[str, list[dict[str, np.ndarray]]]:
    """Group single-record input dicts by the bucket their token ids fit (each bucket gets some records); the
    signatures without context get the same records without their context."""
    out: dict[str, list[dict[str, np.ndarray]]] = {k: [] for k in signature_names(buckets)}
    for rec in student_inputs:
        arrays = {k: np.asarray(v) for k, v in rec.items()}
        ids = arrays["token_ids"].reshape(-1)
        n = int((ids > 0).sum())
        for b in buckets:  # every bucket that holds the record calibrates on it (keeps ranges consistent)
            if n <= b:
                padded = np.zeros((1, b), np.int32)
                padded[0, :min(b, ids.size)] = ids[:b]
                out[signature_name(b)].append({**arrays, "token_ids": padded})
                out[signature_name(b, False)].append({k: v for k, v in arrays.items() if k not in CONTEXT_INPUTS}
                                                     | {"token_ids": padded})
    empty = [k for k, v in out.items() if not v]
    if empty:
        raise ConversionError(f"no calibration records for signatures {empty}")
    return out
