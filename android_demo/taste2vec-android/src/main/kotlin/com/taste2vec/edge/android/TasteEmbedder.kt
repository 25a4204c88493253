package com.taste2vec.edge.demo

import android.content.Context
import com.taste2vec.edge.core.BundleTrust
import com.taste2vec.edge.core.Embeddings
import com.taste2vec.edge.core.ModelBundle
import com.taste2vec.edge.core.ModelInputs
import com.taste2vec.edge.core.Preprocessor
import com.taste2vec.edge.core.TastingRecord
import org.tensorflow.lite.Interpreter
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Options, as the Python SDK's `EmbedderOptions` (MediaPipe style). */
data class EmbedderOptions(val assetDir: String = "taste2vec", val numThreads: Int = 1)

/** Per-call latency split, milliseconds. */
data class Timing(val preprocessMs: Double, val inferenceMs: Double) {
    val totalMs: Double get() = preprocessMs + inferenceMs
}

/**
 * One embedding: the 128-d unit vector, the model that made it, the record's strongest flavour attributes
 * (lexicon path -> weight, for explanations), what ran, and how long it took.
 */
class EmbeddingResult(val embedding: FloatArray, val modelVersion: String, val attributes: Map<String, Double>,
                      val bucket: Int, val timing: Timing, val warnings: List<String>)

/**
 * The Android twin of the Python SDK's `taste2vec.Embedder`: verified bundle from the app's assets, the shared
 * Kotlin preprocessing (`taste2vec-core`), and a LiteRT Interpreter running the `embed_<bucket>` signature.
 * Not thread-safe (one Interpreter); create one per worker thread.
 */
class TasteEmbedder private constructor(val bundle: ModelBundle, options: EmbedderOptions) : Closeable {
    private val preprocessor: Preprocessor = bundle.preprocessor()
    private val interpreter: Interpreter
    val modelVersion: String get() = bundle.modelId

    init {
        val bytes = bundle.modelBytes()
        val model = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).put(bytes)
        model.rewind()
        interpreter = Interpreter(model, Interpreter.Options().setNumThreads(options.numThreads))
        val sigs = interpreter.signatureKeys.toSet()
        val want = bundle.tokenizer.buckets.map { "embed_$it" }
        require(sigs.containsAll(want)) { "model signatures $sigs lack $want" }
    }

    /** Validates, preprocesses and embeds one record (typed errors name the bad field). */
    fun embed(record: TastingRecord): EmbeddingResult {
        val t0 = System.nanoTime()
        val inputs = preprocessor(record)
        val t1 = System.nanoTime()
        val out = run(inputs)
        val t2 = System.nanoTime()
        return EmbeddingResult(out, modelVersion, bundle.lexicon.topAttributes(inputs.lexicon), inputs.bucket,
                               Timing((t1 - t0) / 1e6, (t2 - t1) / 1e6), inputs.warnings)
    }

    /** Runs the model on preprocessed inputs; returns the embedding (already L2-normalized in the graph). */
    fun run(inputs: ModelInputs): FloatArray {
        val feed = mapOf<String, Any>(
            "token_ids" to ints(inputs.tokenIds), "lexicon" to floats(inputs.lexicon),
            "metrics" to floats(inputs.metrics), "metrics_mask" to floats(inputs.metricsMask),
            "context" to floats(inputs.context), "context_mask" to floats(inputs.contextMask))
        val out = ByteBuffer.allocateDirect(bundle.embeddingDim * 4).order(ByteOrder.nativeOrder())
        interpreter.runSignature(feed, mapOf<String, Any>("embedding" to out), inputs.signature)
        out.rewind()
        return FloatArray(bundle.embeddingDim) { out.float }
    }

    override fun close() = interpreter.close()

    companion object {
        /** Loads and verifies the bundle in `assets/<assetDir>` (manifest, sizes, sha256, versions). */
        fun createFromOptions(context: Context, options: EmbedderOptions = EmbedderOptions()): TasteEmbedder {
            val assets = context.assets
            val bundle = ModelBundle.load("assets/${options.assetDir}", BundleTrust.PACKAGED) { name ->
                try {
                    assets.open("${options.assetDir}/$name").use { it.readBytes() }
                } catch (e: java.io.IOException) {
                    null
                }
            }
            return TasteEmbedder(bundle, options)
        }

        fun cosineSimilarity(u: FloatArray, v: FloatArray): Double = Embeddings.cosineSimilarity(u, v)

        private fun floats(a: FloatArray): ByteBuffer =
            ByteBuffer.allocateDirect(a.size * 4).order(ByteOrder.nativeOrder()).apply { asFloatBuffer().put(a) }

        private fun ints(a: IntArray): ByteBuffer =
            ByteBuffer.allocateDirect(a.size * 4).order(ByteOrder.nativeOrder()).apply { asIntBuffer().put(a) }
    }
}
