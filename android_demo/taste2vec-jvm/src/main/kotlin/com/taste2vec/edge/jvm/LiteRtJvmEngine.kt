package com.taste2vec.edge.jvm

import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import com.sun.jna.Pointer
import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.BundleException
import com.taste2vec.edge.core.InferenceEngine
import com.taste2vec.edge.core.ModelBundle
import com.taste2vec.edge.core.ModelInputs
import com.taste2vec.edge.core.ModelRuntimeException
import java.io.File

/** How a [LiteRtJvmEngine] runs: CPU threads (XNNPACK) and, optionally, which `libLiteRt.so` ([LiteRtLibrary]). */
data class LiteRtJvmOptions @JvmOverloads constructor(val numThreads: Int = 1, val library: File? = null) {
    init {
        if (numThreads < 1) throw IllegalArgumentException("numThreads: got $numThreads, allowed: an integer >= 1")
    }
}

/**
 * A bundle's model on LiteRT's own runtime from a plain JVM: the LiteRT C API (`libLiteRt.so`, the runtime the
 * Android LiteRT library wraps) through JNA. An [InferenceEngine] for [BundleEmbedder], so Kotlin and Java
 * backends, tests and tools embed exactly as the app does:
 *
 * ```
 * BundleEmbedder(ModelBundle.load(dir, BundleTrust.PACKAGED), LiteRtJvmEngine.factory()).use { it.embedJson(record) }
 * ```
 *
 * At creation the model is compiled once for the CPU and checked against the bundle (every `embed_<bucket>`
 * signature with the bundle's input names, types and shapes, and a `float32[1, dim]` embedding), and each
 * signature gets its own input and output buffers, reused by every [run]. One engine is meant for one thread at a
 * time ([BundleEmbedder] gives each thread its own); calls are serialized anyway, so misuse is slow, not unsafe.
 * [close] frees everything native; a closed engine refuses to run. Failures of the runtime are
 * [LiteRtException]s naming the call and its status.
 */
class LiteRtJvmEngine private constructor(private val bundle: ModelBundle, options: LiteRtJvmOptions) : InferenceEngine {
    private val handles = Handles()
    private val signatures: Map<String, Signature>
    private val dim = bundle.embeddingDim
    private var closed = false

    init {
        LiteRtLibrary.load(options.library)
        try {
            NativeNotices.quiet { compile(options.numThreads) }
            signatures = bundle.tokenizer.buckets.flatMap { b ->
                listOfNotNull(signature(ModelInputs.signatureName(b), b, true),
                              signature(ModelInputs.signatureName(b, context = false), b, false))
            }.associateBy { it.key }
        } catch (e: Throwable) {
            NativeNotices.quiet { handles.free() }
            throw e
        }
    }

    /**
     * Runs the signature [ModelInputs.signature] names, or for a record without context its
     * [ModelInputs.contextFreeSignature] where the model has one (the same vector); returns the `embedding` output
     * (float32[dim]).
     */
    override fun run(inputs: ModelInputs): FloatArray = run(inputs, signatureFor(inputs))

    /** The signature [run] runs for [inputs]. */
    internal fun signatureFor(inputs: ModelInputs): String =
        if (!inputs.hasContext && inputs.contextFreeSignature in signatures) inputs.contextFreeSignature else inputs.signature

    /** Runs signature [key] on [inputs]. */
    @Synchronized
    internal fun run(inputs: ModelInputs, key: String): FloatArray {
        if (closed) throw ModelRuntimeException("${bundle.modelId}: this engine is closed")
        val sig = signatures[key]
            ?: throw ModelRuntimeException("${bundle.modelId}: no signature $key (the model has " +
                                           "${signatures.keys.joinToString()})")
        for (t in sig.inputs) t.write(inputs)
        check(LiteRtC.LiteRtRunCompiledModel(handles.compiled, sig.index, sig.inputs.size.toLong(), sig.inputBuffers, 1,
                                             sig.outputBuffers), "LiteRtRunCompiledModel", sig.key)
        return sig.output.readFloats()
    }

    /** Frees the compiled model, its buffers, the model and the environment. Idempotent. */
    @Synchronized
    override fun close() {
        if (closed) return
        closed = true
        NativeNotices.quiet { handles.free() }
    }

    private fun compile(numThreads: Int) {
        val out = LongArray(1)
        check(LiteRtC.LiteRtCreateEnvironment(0, null, out), "LiteRtCreateEnvironment")
        handles.environment = out[0]
        val bytes = bundle.modelBytes()
        handles.modelBytes = Memory(bytes.size.toLong()).apply { write(0, bytes, 0, bytes.size) }
        check(LiteRtC.LiteRtCreateModelFromBuffer(handles.environment, handles.modelBytes!!, bytes.size.toLong(), out),
              "LiteRtCreateModelFromBuffer", "${bundle.origin}/model.tflite")
        handles.model = out[0]
        check(LiteRtC.LiteRtCreateOptions(out), "LiteRtCreateOptions")
        val options = out[0]
        try {
            check(LiteRtC.LiteRtSetOptionsHardwareAccelerators(options, LiteRtC.HW_ACCELERATOR_CPU),
                  "LiteRtSetOptionsHardwareAccelerators")
            addCpuOptions(options, numThreads)
            check(LiteRtC.LiteRtCreateCompiledModel(handles.environment, handles.model, options, out),
                  "LiteRtCreateCompiledModel", "${bundle.origin}/model.tflite")
            handles.compiled = out[0]
        } finally {
            LiteRtC.LiteRtDestroyOptions(options)  // the caller owns compilation options; the options own the payload
        }
    }

    /** `num_threads` for the CPU (XNNPACK) accelerator: TOML text in opaque options, which [options] then owns. */
    private fun addCpuOptions(options: Long, numThreads: Int) {
        val out = LongArray(1)
        val payload = cString("num_threads = $numThreads\n")
        val status = LiteRtC.LiteRtCreateOpaqueOptions(LiteRtC.CPU_OPTIONS_ID, payload, FREE, out)
        if (status != 0) Native.free(Pointer.nativeValue(payload))  // not taken over
        check(status, "LiteRtCreateOpaqueOptions", "CPU options")
        val added = LiteRtC.LiteRtAddOpaqueOptions(options, out[0])
        if (added != 0) LiteRtC.LiteRtDestroyOpaqueOptions(out[0])  // frees the payload too
        check(added, "LiteRtAddOpaqueOptions")
    }

    /**
     * Binds signature [key] of a bucket: the full graph ([context], required) or the one for records without context
     * (null when the model has none).
     */
    private fun signature(key: String, bucket: Int, context: Boolean): Signature? {
        val out = LongArray(1)
        check(LiteRtC.LiteRtGetNumModelSignatures(handles.model, out), "LiteRtGetNumModelSignatures")
        for (i in 0 until out[0]) {
            check(LiteRtC.LiteRtGetModelSignature(handles.model, i, out), "LiteRtGetModelSignature")
            val sig = out[0]
            check(LiteRtC.LiteRtGetSignatureKey(sig, out), "LiteRtGetSignatureKey")
            if (Pointer(out[0]).getString(0) == key) {
                return Signature.bind(handles, i, key, sig, expected(bucket, context), dim)
            }
        }
        if (!context) return null
        throw BundleException("${bundle.origin}/model.tflite: no signature $key for the tokenizer's bucket $bucket")
    }

    /** The inputs the bundle promises for a signature ([ModelBundle.inputShapes]), with their element types. */
    private fun expected(bucket: Int, context: Boolean): Map<String, RankedType> =
        bundle.inputShapes(bucket, context).mapValues { (name, shape) ->
            RankedType(if (name == "token_ids") LiteRtC.ELEMENT_INT32 else LiteRtC.ELEMENT_FLOAT32, shape)
        }

    companion object {
        /** `free` from the C library: the destructor LiteRT calls on the CPU options' payload (malloc'ed here). */
        private val FREE: Pointer by lazy { NativeLibrary.getInstance("c").getFunction("free") }

        private fun cString(text: String): Pointer {
            val bytes = text.toByteArray(Charsets.UTF_8)
            return Pointer(Native.malloc(bytes.size + 1L)).apply {
                write(0, bytes, 0, bytes.size)
                setByte(bytes.size.toLong(), 0)
            }
        }

        /** An engine for [bundle]: loads LiteRT if needed, compiles the model, binds every signature. */
        @JvmStatic
        @JvmOverloads
        fun create(bundle: ModelBundle, options: LiteRtJvmOptions = LiteRtJvmOptions()): LiteRtJvmEngine =
            LiteRtJvmEngine(bundle, options)

        /** The engine factory [BundleEmbedder] takes: one engine per calling thread. */
        @JvmStatic
        @JvmOverloads
        fun factory(options: LiteRtJvmOptions = LiteRtJvmOptions()): (ModelBundle) -> InferenceEngine =
            { create(it, options) }
    }
}

/** Native handles of one engine, freed in reverse order of creation. */
internal class Handles {
    var environment = 0L
    var model = 0L
    var compiled = 0L
    var modelBytes: Memory? = null
    val buffers = ArrayList<Long>()
    val scratch = ArrayList<Memory>()

    fun free() {
        buffers.forEach { LiteRtC.LiteRtDestroyTensorBuffer(it) }
        buffers.clear()
        if (compiled != 0L) LiteRtC.LiteRtDestroyCompiledModel(compiled)
        if (model != 0L) LiteRtC.LiteRtDestroyModel(model)
        if (environment != 0L) LiteRtC.LiteRtDestroyEnvironment(environment)
        compiled = 0L
        model = 0L
        environment = 0L
        modelBytes?.close()
        modelBytes = null
        scratch.forEach { it.close() }
        scratch.clear()
    }
}
