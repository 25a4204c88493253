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
import com.taste2vec.edge.core.SelfCheck
import com.taste2vec.edge.core.SelfCheckReport
import com.taste2vec.edge.core.TastingRecord
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
    val numThreads: Int = 1
)

/** Runs a bundle's model with a LiteRT [Interpreter] (one per thread: interpreters are not thread-safe). */
class LiteRtEngine(bundle: ModelBundle, numThreads: Int = 1) : InferenceEngine {
    private val dim = bundle.embeddingDim
    private val interpreter: Interpreter

    init {
        val bytes = bundle.modelBytes()
        val model = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes)
        model.rewind()
        interpreter = Interpreter(model, Interpreter.Options().setNumThreads(numThreads))
        val sigs = interpreter.signatureKeys.toSet()
        val want = bundle.tokenizer.buckets.map { "embed_$it" }
        if (!sigs.containsAll(want)) throw BundleException("${bundle.origin}: model signatures $sigs lack $want")
    }

    override fun run(inputs: ModelInputs): FloatArray {
        val feed = mapOf<String, Any>(
            "token_ids" to ints(inputs.tokenIds), "lexicon" to floats(inputs.lexicon),
            "metrics" to floats(inputs.metrics), "metrics_mask" to floats(inputs.metricsMask),
            "context" to floats(inputs.context), "context_mask" to floats(inputs.contextMask))
        val out = ByteBuffer.allocateDirect(dim * 4).order(ByteOrder.nativeOrder())
        interpreter.runSignature(feed, mapOf<String, Any>("embedding" to out), inputs.signature)
        out.rewind()
        return FloatArray(dim) { out.float }
    }

    override fun close() = interpreter.close()

    private fun floats(a: FloatArray): ByteBuffer =
        ByteBuffer.allocateDirect(a.size * 4).order(ByteOrder.nativeOrder()).apply { asFloatBuffer().put(a) }

    private fun ints(a: IntArray): ByteBuffer =
        ByteBuffer.allocateDirect(a.size * 4).order(ByteOrder.nativeOrder()).apply { asIntBuffer().put(a) }
}

/**
 * The Android twin of the Python SDK's `taste2vec.Embedder`: a verified bundle, the shared Kotlin preprocessing
 * (`taste2vec-core`) and LiteRT. Thread-safe: each thread that calls [embed] gets its own interpreter on its first
 * call ([BundleEmbedder]); [close] releases them all. Run [selfCheck] once after loading a downloaded bundle.
 */
class TasteEmbedder private constructor(private val core: BundleEmbedder) : Closeable {
    val bundle: ModelBundle get() = core.bundle
    val modelVersion: String get() = core.modelVersion

    /** Validates, preprocesses and embeds one record (typed errors name the bad field). */
    fun embed(record: TastingRecord): EmbeddingResult = core.embed(record)

    /** Runs the model on preprocessed inputs; returns the embedding (already L2-normalized in the graph). */
    fun run(inputs: ModelInputs): FloatArray = core.run(inputs)

    /** The bundle's golden records through this device's interpreter: the worst cosine, and whether it passed. */
    @JvmOverloads
    fun selfCheck(minCosine: Double = SelfCheck.DEFAULT_MIN_COSINE): SelfCheckReport = core.selfCheck(minCosine)

    override fun close() = core.close()

    companion object {
        /** Loads and verifies the bundle the options name (see [EmbedderOptions]). */
        @JvmStatic
        @JvmOverloads
        fun createFromOptions(context: Context, options: EmbedderOptions = EmbedderOptions()): TasteEmbedder {
            val bundle = when {
                options.modelBuffer != null -> ModelBundle.fromBytes(options.modelBuffer, options.trust)
                options.modelFile != null -> ModelBundle.load(options.modelFile, options.trust)
                options.assetDir != null -> {
                    val dir = options.assetDir
                    val assets = context.assets
                    ModelBundle.load(BundleSource.of("assets/$dir") { name ->
                        try {
                            assets.open("$dir/$name").use { it.readBytes() }
                        } catch (e: IOException) {
                            null
                        }
                    }, options.trust)
                }
                else -> throw IllegalArgumentException("EmbedderOptions: give assetDir, modelFile or modelBuffer")
            }
            return createFromBundle(bundle, options.numThreads)
        }

        /** A downloaded bundle (folder or .zip) signed by one of [trust]'s keys. */
        @JvmStatic
        fun createFromFile(file: File, trust: BundleTrust, numThreads: Int = 1): TasteEmbedder =
            createFromBundle(ModelBundle.load(file, trust), numThreads)

        /** An already verified bundle. */
        @JvmStatic
        fun createFromBundle(bundle: ModelBundle, numThreads: Int = 1): TasteEmbedder =
            TasteEmbedder(BundleEmbedder(bundle) { LiteRtEngine(it, numThreads) })

        @JvmStatic
        fun cosineSimilarity(u: FloatArray, v: FloatArray): Double = Embeddings.cosineSimilarity(u, v)
    }
}
