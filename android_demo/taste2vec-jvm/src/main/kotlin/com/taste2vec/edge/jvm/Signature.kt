package com.taste2vec.edge.jvm

import com.sun.jna.Memory
import com.sun.jna.Pointer
import com.taste2vec.edge.core.BundleException
import com.taste2vec.edge.core.ModelInputs
import com.taste2vec.edge.core.ModelRuntimeException

/** One tensor of a bound signature: its name, type, and the managed buffer the runtime reads or writes. */
internal class BoundTensor(val name: String, val type: RankedType, val buffer: Long) {
    private val host = LongArray(1)

    /** Copies this input's values from [inputs] into the buffer (the count must be this tensor's). */
    fun write(inputs: ModelInputs) {
        lock(LiteRtC.LOCK_WRITE)
        try {
            val p = Pointer(host[0])
            when (name) {
                "token_ids" -> fill(inputs.tokenIds.size) { p.write(0, inputs.tokenIds, 0, it) }
                "lexicon" -> floats(p, inputs.lexicon)
                "metrics" -> floats(p, inputs.metrics)
                "metrics_mask" -> floats(p, inputs.metricsMask)
                "context" -> floats(p, inputs.context)
                "context_mask" -> floats(p, inputs.contextMask)
            }
        } finally {
            LiteRtC.LiteRtUnlockTensorBuffer(buffer)
        }
    }

    /** The buffer's values (a float32 output). */
    fun readFloats(): FloatArray {
        lock(LiteRtC.LOCK_READ)
        try {
            return Pointer(host[0]).getFloatArray(0, type.elements)
        } finally {
            LiteRtC.LiteRtUnlockTensorBuffer(buffer)
        }
    }

    private fun lock(mode: Int) {
        check(LiteRtC.LiteRtLockTensorBuffer(buffer, host, mode), "LiteRtLockTensorBuffer", name)
        if (host[0] == 0L) throw ModelRuntimeException("LiteRtLockTensorBuffer gave no host memory for $name")
    }

    private fun floats(p: Pointer, values: FloatArray) = fill(values.size) { p.write(0, values, 0, it) }

    private inline fun fill(n: Int, write: (Int) -> Unit) {
        if (n != type.elements) {
            throw ModelRuntimeException("input $name has $n values, the model's $type takes ${type.elements}")
        }
        write(n)
    }
}

/** A model signature with its buffers made once: [inputBuffers] / [outputBuffers] are the arrays `Run` takes. */
internal class Signature(val index: Long, val key: String, val inputs: List<BoundTensor>, val output: BoundTensor,
                         val inputBuffers: Memory, val outputBuffers: Memory) {
    companion object {
        /**
         * Binds signature [index] ([handle]) of the compiled model: checks its inputs against [expected] (name ->
         * type and shape) and its one output against `float32[1, dim]` (`embedding`), then makes a buffer for each
         * from the compiled model's requirements. [BundleException] when the model does not fit the bundle.
         */
        fun bind(h: Handles, index: Long, key: String, handle: Long, expected: Map<String, RankedType>,
                 dim: Int): Signature {
            val out = LongArray(1)
            check(LiteRtC.LiteRtGetNumSignatureInputs(handle, out), "LiteRtGetNumSignatureInputs", key)
            val n = out[0].toInt()
            val typeMem = Memory(RankedType.BYTES + 56).also { h.scratch.add(it) }  // room beyond the 72 bytes read
            val inputs = (0 until n).map { j ->
                check(LiteRtC.LiteRtGetSignatureInputName(handle, j.toLong(), out), "LiteRtGetSignatureInputName", key)
                val name = Pointer(out[0]).getString(0)
                check(LiteRtC.LiteRtGetSignatureInputTensorByIndex(handle, j.toLong(), out),
                      "LiteRtGetSignatureInputTensorByIndex", "$key/$name")
                val type = rankedType(out[0], typeMem, "$key/$name")
                val want = expected[name] ?: throw BundleException("model.tflite: signature $key has an input '$name' " +
                                                                   "the bundle does not feed (it feeds ${expected.keys})")
                fits(key, name, type, want)
                buffer(h, index, j.toLong(), true, name, type, typeMem)
            }
            val missing = expected.keys - inputs.map { it.name }
            if (missing.isNotEmpty()) throw BundleException("model.tflite: signature $key lacks the inputs $missing")
            check(LiteRtC.LiteRtGetNumSignatureOutputs(handle, out), "LiteRtGetNumSignatureOutputs", key)
            if (out[0] != 1L) throw BundleException("model.tflite: signature $key has ${out[0]} outputs, expected 1 (embedding)")
            check(LiteRtC.LiteRtGetSignatureOutputName(handle, 0, out), "LiteRtGetSignatureOutputName", key)
            val outName = Pointer(out[0]).getString(0)
            check(LiteRtC.LiteRtGetSignatureOutputTensorByIndex(handle, 0, out), "LiteRtGetSignatureOutputTensorByIndex", key)
            val outType = rankedType(out[0], typeMem, "$key/$outName")
            fits(key, outName, outType, RankedType(LiteRtC.ELEMENT_FLOAT32, intArrayOf(1, dim)))
            val output = buffer(h, index, 0, false, outName, outType, typeMem)
            val inBufs = Memory(8L * inputs.size).also { h.scratch.add(it) }
            inputs.forEachIndexed { j, t -> inBufs.setLong(8L * j, t.buffer) }
            val outBufs = Memory(8).also { h.scratch.add(it) }
            outBufs.setLong(0, output.buffer)
            return Signature(index, key, inputs, output, inBufs, outBufs)
        }

        private fun rankedType(tensor: Long, mem: Memory, what: String): RankedType {
            mem.clear()
            check(LiteRtC.LiteRtGetRankedTensorType(tensor, mem), "LiteRtGetRankedTensorType", what)
            return RankedType.read(mem)
        }

        private fun fits(key: String, name: String, got: RankedType, want: RankedType) {
            if (got.elementType != want.elementType || !got.dims.contentEquals(want.dims)) {
                throw BundleException("model.tflite: signature $key's $name is $got, the bundle's files make $want")
            }
        }

        /** A managed buffer for one tensor ([mem] still holds its ranked type, as the C call wants it). */
        private fun buffer(h: Handles, sig: Long, j: Long, input: Boolean, name: String, type: RankedType,
                           mem: Memory): BoundTensor {
            val out = LongArray(1)
            if (input) {
                check(LiteRtC.LiteRtGetCompiledModelInputBufferRequirements(h.compiled, sig, j, out),
                      "LiteRtGetCompiledModelInputBufferRequirements", name)
            } else {
                check(LiteRtC.LiteRtGetCompiledModelOutputBufferRequirements(h.compiled, sig, j, out),
                      "LiteRtGetCompiledModelOutputBufferRequirements", name)
            }
            check(LiteRtC.LiteRtCreateManagedTensorBufferFromRequirements(h.environment, mem, out[0], out),
                  "LiteRtCreateManagedTensorBufferFromRequirements", name)
            h.buffers.add(out[0])
            return BoundTensor(name, type, out[0])
        }
    }
}
