package com.taste2vec.edge.jvm

import com.sun.jna.Pointer

/**
 * The LiteRT C API calls this module makes (the `litert/c/` headers of LiteRT 2.x, as exported by the `ai-edge-litert`
 * wheel's `libLiteRt.so`), bound with JNA direct mapping: each call is a plain JNI call, no reflection or argument
 * boxing. Handles and `size_t` values (`LiteRtParamIndex`) are `Long`; out-parameters are one-element `LongArray`s;
 * every function but the destroyers returns a `LiteRtStatus` code ([LiteRtStatus]).
 *
 * Bound once per process by [LiteRtLibrary.load]; nothing here may be called before.
 */
internal object LiteRtC {
    // litert_environment.h
    @JvmStatic external fun LiteRtCreateEnvironment(numOptions: Int, options: Pointer?, environment: LongArray): Int
    @JvmStatic external fun LiteRtDestroyEnvironment(environment: Long)

    // litert_model.h (2.x: the environment comes first)
    @JvmStatic external fun LiteRtCreateModelFromBuffer(environment: Long, address: Pointer, size: Long,
                                                        model: LongArray): Int
    @JvmStatic external fun LiteRtDestroyModel(model: Long)
    @JvmStatic external fun LiteRtGetNumModelSignatures(model: Long, count: LongArray): Int
    @JvmStatic external fun LiteRtGetModelSignature(model: Long, index: Long, signature: LongArray): Int
    @JvmStatic external fun LiteRtGetSignatureKey(signature: Long, key: LongArray): Int
    @JvmStatic external fun LiteRtGetNumSignatureInputs(signature: Long, count: LongArray): Int
    @JvmStatic external fun LiteRtGetNumSignatureOutputs(signature: Long, count: LongArray): Int
    @JvmStatic external fun LiteRtGetSignatureInputName(signature: Long, index: Long, name: LongArray): Int
    @JvmStatic external fun LiteRtGetSignatureOutputName(signature: Long, index: Long, name: LongArray): Int
    @JvmStatic external fun LiteRtGetSignatureInputTensorByIndex(signature: Long, index: Long, tensor: LongArray): Int
    @JvmStatic external fun LiteRtGetSignatureOutputTensorByIndex(signature: Long, index: Long, tensor: LongArray): Int
    /** Fills a `LiteRtRankedTensorType` (72 bytes: element type, then the layout; see [RankedType]). */
    @JvmStatic external fun LiteRtGetRankedTensorType(tensor: Long, rankedType: Pointer): Int

    // litert_options.h, litert_opaque_options.h
    @JvmStatic external fun LiteRtCreateOptions(options: LongArray): Int
    @JvmStatic external fun LiteRtDestroyOptions(options: Long)
    @JvmStatic external fun LiteRtSetOptionsHardwareAccelerators(options: Long, accelerators: Int): Int
    @JvmStatic external fun LiteRtCreateOpaqueOptions(identifier: String, payload: Pointer, payloadDestructor: Pointer,
                                                      opaque: LongArray): Int
    @JvmStatic external fun LiteRtAddOpaqueOptions(options: Long, opaque: Long): Int
    @JvmStatic external fun LiteRtDestroyOpaqueOptions(opaque: Long)

    // litert_compiled_model.h
    @JvmStatic external fun LiteRtCreateCompiledModel(environment: Long, model: Long, options: Long,
                                                      compiled: LongArray): Int
    @JvmStatic external fun LiteRtDestroyCompiledModel(compiled: Long)
    @JvmStatic external fun LiteRtGetCompiledModelInputBufferRequirements(compiled: Long, signature: Long, input: Long,
                                                                          requirements: LongArray): Int
    @JvmStatic external fun LiteRtGetCompiledModelOutputBufferRequirements(compiled: Long, signature: Long, output: Long,
                                                                           requirements: LongArray): Int
    @JvmStatic external fun LiteRtRunCompiledModel(compiled: Long, signature: Long, numInputs: Long, inputs: Pointer,
                                                   numOutputs: Long, outputs: Pointer): Int

    // litert_tensor_buffer.h
    @JvmStatic external fun LiteRtCreateManagedTensorBufferFromRequirements(environment: Long, rankedType: Pointer,
                                                                             requirements: Long, buffer: LongArray): Int
    @JvmStatic external fun LiteRtDestroyTensorBuffer(buffer: Long)
    @JvmStatic external fun LiteRtLockTensorBuffer(buffer: Long, hostAddress: LongArray, mode: Int): Int
    @JvmStatic external fun LiteRtUnlockTensorBuffer(buffer: Long): Int

    const val HW_ACCELERATOR_CPU = 1
    const val LOCK_READ = 0
    const val LOCK_WRITE = 1
    const val ELEMENT_FLOAT32 = 1
    const val ELEMENT_INT32 = 2
    /** The CPU (XNNPACK) accelerator's opaque-options identifier; its payload is TOML text (`num_threads = 1`). */
    const val CPU_OPTIONS_ID = "xnnpack"
}

/**
 * A `LiteRtRankedTensorType` as the C API lays it out: `int32 element_type`, then `LiteRtLayout` (`rank:7` and
 * `has_strides:1` bits in one 32-bit word, `int32 dimensions[8]`, `uint32 strides[8]`): 72 bytes.
 */
internal class RankedType(val elementType: Int, val dims: IntArray) {
    val elements: Int get() = dims.fold(1) { a, d -> a * d }

    override fun toString(): String =
        "${elementName(elementType)}${dims.joinToString(", ", "[", "]")}"

    companion object {
        const val BYTES = 72L
        const val MAX_RANK = 8

        fun read(p: Pointer): RankedType {
            val rank = p.getInt(4) and 0x7f
            return RankedType(p.getInt(0), IntArray(minOf(rank, MAX_RANK)) { p.getInt(8L + 4 * it) })
        }

        fun elementName(t: Int): String = when (t) {
            LiteRtC.ELEMENT_FLOAT32 -> "float32"
            LiteRtC.ELEMENT_INT32 -> "int32"
            else -> "element type $t"
        }
    }
}
