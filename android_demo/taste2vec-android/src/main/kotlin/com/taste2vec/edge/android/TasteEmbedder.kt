package com.taste2vec.edge.android

import android.content.Context
import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.BundleException
import com.taste2vec.edge.core.BundleSource
import com.taste2vec.edge.core.BundleTrust
import com.taste2vec.edge.core.EmbeddingResult
import com.taste2vec.edge.core.Embeddings
import com.taste2vec.edge.core.InferenceEngine
import com.taste2vec.edge.core.ModelBundle
import com.taste2vec.edge.core.ModelInputs
import com.taste2vec.edge.core.ModelRuntimeException
import com.taste2vec.edge.core.SelfCheck
import com.taste2vec.edge.core.SelfCheckReport
import com.taste2vec.edge.core.TastingRecord
import androidx.annotation.WorkerThread
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import java.io.Closeable
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Options, as the Python SDK's `EmbedderOptions` / `BaseOptions` (MediaPipe style). Exactly one model source:
 * [assetDir] (a bundle folder inside the APK's assets, trusted as part of the APK), [modelFile] (a bundle folder or
 * `.zip` on disk, e.g. downloaded after a rollout assignment) or [modelBuffer] (the bytes of a bundle zip). A bundle
 * that is not the APK's own must be signed by one of [trust]'s keys (`BundleTrust.keys(releasePem)`).
 */
data class EmbedderOptions(
    val assetDir: String? = "taste2vec",
    val modelFile: File? = null,
    val modelBuffer: ByteArray? = null,
    val trust: BundleTrust = BundleTrust.PACKAGED,
    val numThreads: Int = 1,
    /** Anti-rollback: the model version the app runs now; an older bundle is a `DowngradeException`. */
    val minVersion: String? = null,
    /** Accept a bundle older than [minVersion] (a deliberate rollback). */
    val allowDowngrade: Boolean = false
) {
    /** The trust every load of these options uses: [trust], with the [minVersion] floor unless [allowDowngrade]. */
    internal val effectiveTrust: BundleTrust
        get() = if (minVersion != null && !allowDowngrade) trust.notOlderThan(minVersion) else trust
}

/**
 * Runs a bundle's model with LiteRT's [Interpreter] (one per thread: interpreters are not thread-safe). At creation
 * every `embed_<bucket>` signature is checked against the bundle's input contract ([ModelBundle.inputShapes]) and
 * gets direct buffers that every [run] reuses; a failed run is a [ModelRuntimeException]. The JVM twin,
 * `LiteRtJvmEngine` (taste2vec-jvm), runs the same checks on LiteRT's C API.
 */
class LiteRtEngine(bundle: ModelBundle, numThreads: Int = 1) : InferenceEngine {
    private val modelId = bundle.modelId
    private val interpreter: Interpreter
    private val feeds: Map<String, Feed>

    init {
        val bytes = bundle.modelBytes()
        val model = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes)
        model.rewind()
        interpreter = try {
            Interpreter(model, Interpreter.Options().setNumThreads(numThreads))
        } catch (e: IllegalArgumentException) {
            throw ModelRuntimeException("${bundle.origin}/model.tflite: LiteRT cannot load it (${e.message})", e)
        }
        feeds = try {
            val keys = interpreter.getSignatureKeys().toSet()
            bundle.tokenizer.buckets.flatMap { b ->
                val key = ModelInputs.signatureName(b)
                if (key !in keys) throw BundleException("${bundle.origin}/model.tflite: no signature $key (has $keys)")
                val bare = ModelInputs.signatureName(b, context = false)  // optional: records without context
                listOfNotNull(key to Feed(interpreter, key, bundle.inputShapes(b), bundle.embeddingDim),
                              if (bare in keys) bare to Feed(interpreter, bare, bundle.inputShapes(b, false),
                                                             bundle.embeddingDim) else null)
            }.toMap()
        } catch (e: Throwable) {
            interpreter.close()
            throw e
        }
    }

    override fun run(inputs: ModelInputs): FloatArray {
        val feed = (if (inputs.hasContext) null else feeds[inputs.contextFreeSignature]) ?: feeds[inputs.signature]
            ?: throw ModelRuntimeException("$modelId: no signature ${inputs.signature} (the model has ${feeds.keys})")
        return try {
            feed.run(inputs)
        } catch (e: IllegalArgumentException) {  // LiteRT's Java API reports failed runs this way
            throw ModelRuntimeException("$modelId: ${inputs.signature} failed (${e.message})", e)
        } catch (e: IllegalStateException) {
            throw ModelRuntimeException("$modelId: ${inputs.signature} failed (${e.message})", e)
        }
    }

    override fun close() = interpreter.close()
}

/** One signature's direct input and output buffers, checked against the bundle's contract once. */
private class Feed(private val interpreter: Interpreter, private val key: String, shapes: Map<String, IntArray>,
                   dim: Int) {
    private val inputs = LinkedHashMap<String, ByteBuffer>()
    private val feed = LinkedHashMap<String, Any>()
    private val output = ByteBuffer.allocateDirect(dim * 4).order(ByteOrder.nativeOrder())
    private val outputs = mapOf<String, Any>("embedding" to output)
    private val dim = dim

    init {
        for ((name, shape) in shapes) {
            val t = interpreter.getInputTensorFromSignature(name, key)
            val type = if (name == "token_ids") DataType.INT32 else DataType.FLOAT32
            if (t.dataType() != type || !t.shape().contentEquals(shape)) {
                throw BundleException("model.tflite: signature $key's $name is ${t.dataType()}${t.shape().toList()}, " +
                                      "the bundle's files make $type${shape.toList()}")
            }
            val buf = ByteBuffer.allocateDirect(t.numBytes()).order(ByteOrder.nativeOrder())
            inputs[name] = buf
            feed[name] = buf
        }
        val out = interpreter.getOutputTensorFromSignature("embedding", key)
        if (out.dataType() != DataType.FLOAT32 || !out.shape().contentEquals(intArrayOf(1, dim))) {
            throw BundleException("model.tflite: signature $key's embedding is " +
                                  "${out.dataType()}${out.shape().toList()}, expected FLOAT32[1, $dim]")
        }
    }

    fun run(x: ModelInputs): FloatArray {
        ints("token_ids", x.tokenIds)
        floats("lexicon", x.lexicon)
        floats("metrics", x.metrics)
        floats("metrics_mask", x.metricsMask)
        if ("context" in inputs) {  // the signature for records without context has no context inputs
            floats("context", x.context)
            floats("context_mask", x.contextMask)
        }
        output.clear()
        interpreter.runSignature(feed, outputs, key)
        output.rewind()
        return FloatArray(dim).also { output.asFloatBuffer().get(it) }
    }

    private fun ints(name: String, a: IntArray) {
        val b = sized(name, a.size)
        b.asIntBuffer().put(a)
    }

    private fun floats(name: String, a: FloatArray) {
        val b = sized(name, a.size)
        b.asFloatBuffer().put(a)
    }

    private fun sized(name: String, n: Int): ByteBuffer {
        val b = inputs.getValue(name)
        if (n * 4 != b.capacity()) {
            throw ModelRuntimeException("input $name has $n values, $key takes ${b.capacity() / 4}")
        }
        b.clear()
        return b
    }
}

/**
 * The Android twin of the Python SDK's `taste2vec.Embedder`: a verified bundle, the shared Kotlin preprocessing
 * (`taste2vec-core`) and LiteRT. Thread-safe: each thread that calls [embed] gets its own interpreter on its first
 * call ([BundleEmbedder]); [close] releases them all. Run [selfCheck] once after loading a downloaded bundle.
 */
class TasteEmbedder private constructor(private val core: BundleEmbedder) : Closeable {
    val bundle: ModelBundle get() = core.bundle
    val modelVersion: String get() = core.modelVersion

    /**
     * Validates, preprocesses and embeds one record. The calling thread's interpreter is created on its first call
     * (a few ms); later calls cost preprocessing plus one model run (well under a millisecond on a desktop CPU; the
     * manifest's `latency_budget`, p99 50 ms, on the slowest supported phone).
     *
     * @throws com.taste2vec.edge.core.RecordValidationException a field breaks the record spec (its subclass
     *   names the rule; `field` is the path, e.g. `metrics.acidity`).
     * @throws ModelRuntimeException the runtime failed; [IllegalStateException] after [close].
     */
    fun embed(record: TastingRecord): EmbeddingResult = core.embed(record)

    /**
     * Runs the model on preprocessed inputs; returns the graph's output (L2-normalized in the graph).
     *
     * @throws ModelRuntimeException the inputs do not fit a signature, or the runtime failed.
     */
    fun run(inputs: ModelInputs): FloatArray = core.run(inputs)

    /**
     * The bundle's golden records through this device's interpreter: the worst cosine, and whether it passed. Runs
     * a dozen inferences: call it once after loading a downloaded bundle, off the main thread.
     *
     * @throws BundleException the bundle has no `golden_outputs.json`.
     */
    @WorkerThread
    @JvmOverloads
    fun selfCheck(minCosine: Double = SelfCheck.DEFAULT_MIN_COSINE): SelfCheckReport = core.selfCheck(minCosine)

    /** Releases every thread's interpreter; later calls throw [IllegalStateException]. Idempotent. */
    override fun close() = core.close()

    companion object {
        /**
         * Loads and verifies the bundle the options name (see [EmbedderOptions]): reads every file and checks sizes,
         * SHA-256 and the signature, so call it off the main thread (tens of ms for the 1.5 MB shipped bundle).
         *
         * @throws BundleException a file is missing, corrupt, too large, or of another format version.
         * @throws com.taste2vec.edge.core.BundleSignatureException a bundle from a file or bytes that is unsigned or
         *   signed by a key [EmbedderOptions.trust] does not hold.
         * @throws com.taste2vec.edge.core.DowngradeException the bundle is older than [EmbedderOptions.minVersion].
         * @throws IllegalArgumentException no model source, or [EmbedderOptions.numThreads] < 1.
         */
        @WorkerThread
        @JvmStatic
        @JvmOverloads
        fun createFromOptions(context: Context, options: EmbedderOptions = EmbedderOptions()): TasteEmbedder {
            val trust = options.effectiveTrust
            val bundle = when {
                options.modelBuffer != null -> ModelBundle.fromBytes(options.modelBuffer, trust)
                options.modelFile != null -> ModelBundle.load(options.modelFile, trust)
                options.assetDir != null -> {
                    val dir = options.assetDir
                    val assets = context.assets
                    ModelBundle.load(BundleSource.of("assets/$dir") { name ->
                        try {
                            assets.open("$dir/$name").use { it.readBytes() }
                        } catch (e: IOException) {
                            null
                        }
                    }, trust)
                }
                else -> throw IllegalArgumentException("EmbedderOptions: give assetDir, modelFile or modelBuffer")
            }
            return createFromBundle(bundle, options.numThreads)
        }

        /**
         * A downloaded bundle (folder or .zip) signed by one of [trust]'s keys.
         *
         * @throws BundleException see [createFromOptions].
         */
        @WorkerThread
        @JvmStatic
        @JvmOverloads
        fun createFromFile(file: File, trust: BundleTrust, numThreads: Int = 1): TasteEmbedder =
            createFromBundle(ModelBundle.load(file, trust), numThreads)

        /**
         * An already verified bundle. The interpreters are made lazily, one per calling thread.
         *
         * @throws IllegalArgumentException [numThreads] < 1.
         */
        @JvmStatic
        @JvmOverloads
        fun createFromBundle(bundle: ModelBundle, numThreads: Int = 1): TasteEmbedder {
            if (numThreads < 1) throw IllegalArgumentException("numThreads: got $numThreads, allowed: an integer >= 1")
            return TasteEmbedder(BundleEmbedder(bundle) { LiteRtEngine(it, numThreads) })
        }

        @JvmStatic
        fun cosineSimilarity(u: FloatArray, v: FloatArray): Double = Embeddings.cosineSimilarity(u, v)
    }
}
