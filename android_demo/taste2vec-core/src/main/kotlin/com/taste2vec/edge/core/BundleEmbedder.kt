package com.taste2vec.edge.core

import java.io.Closeable
import java.util.Collections

/**
 * What runs a bundle's model: preprocessed [ModelInputs] in, the embedding out (`embed_<bucket>` signature,
 * L2-normalized in the graph). The Android library's `LiteRtEngine` wraps a LiteRT `Interpreter`; tests use engines
 * that replay known vectors. An engine is used by one thread at a time (LiteRT interpreters are not thread-safe):
 * [BundleEmbedder] gives every thread its own.
 */
interface InferenceEngine : Closeable {
    fun run(inputs: ModelInputs): FloatArray
}

/** Per-call latency split, milliseconds. */
class Timing(val preprocessMs: Double, val inferenceMs: Double) {
    val totalMs: Double get() = preprocessMs + inferenceMs

    override fun toString(): String = "Timing(preprocess %.3f ms, inference %.3f ms)".format(preprocessMs, inferenceMs)
}

/**
 * One embedding (the Python SDK's `EmbeddingResult`): the 128-d unit vector, the model that made it, the record's
 * strongest flavour attributes (lexicon path -> weight, for explanations), the token bucket that ran, timing and
 * what validation changed.
 */
class EmbeddingResult(val embedding: FloatArray, val modelVersion: String, val attributes: Map<String, Double>,
                      val bucket: Int, val timing: Timing, val warnings: List<String>)

/**
 * A verified bundle plus an engine per thread: the engine-independent half of the Android `TasteEmbedder` and the
 * twin of the Python SDK's `Embedder` (validation, preprocessing, inference, timing). Thread-safe: each calling
 * thread gets its own engine from [engineFactory] on its first call (as the Python SDK gives each thread its own
 * interpreter); [close] closes them all.
 */
class BundleEmbedder(val bundle: ModelBundle, private val engineFactory: (ModelBundle) -> InferenceEngine) : Closeable {
    private val preprocessor = bundle.preprocessor()
    private val engines = Collections.synchronizedList(ArrayList<InferenceEngine>())
    private val local = ThreadLocal<InferenceEngine>()
    @Volatile private var closed = false

    val modelVersion: String get() = bundle.modelId

    /**
     * Validates, preprocesses and embeds one record (typed errors name the bad field). The vector is re-normalized
     * to unit length in double precision, as the Python SDK's `Embedder` does, so both give the same float32 values.
     */
    fun embed(record: TastingRecord): EmbeddingResult {
        val t0 = System.nanoTime()
        val inputs = preprocessor(record)
        val t1 = System.nanoTime()
        val out = normalized(run(inputs))
        val t2 = System.nanoTime()
        return EmbeddingResult(out, modelVersion, bundle.lexicon.topAttributes(inputs.lexicon), inputs.bucket,
                               Timing((t1 - t0) / 1e6, (t2 - t1) / 1e6), inputs.warnings)
    }

    /** Validates a parsed-JSON record (a `Map`, as [Json.parse] returns) and embeds it. */
    fun embedJson(record: Any?): EmbeddingResult = embed(TastingRecord.fromJson(bundle.spec, record))

    /**
     * Runs this thread's engine on preprocessed inputs: the graph's output as it is (already L2-normalized in the
     * graph, up to float32 rounding). [ModelRuntimeException] when it is not [ModelBundle.embeddingDim] values.
     */
    fun run(inputs: ModelInputs): FloatArray {
        val out = engine().run(inputs)
        if (out.size != bundle.embeddingDim) {
            throw ModelRuntimeException("$modelVersion: the engine returned ${out.size} values, the bundle's " +
                                        "embedding has ${bundle.embeddingDim}")
        }
        return out
    }

    private fun normalized(v: FloatArray): FloatArray {
        var sq = 0.0
        for (x in v) sq += x.toDouble() * x.toDouble()
        if (sq.isNaN() || sq.isInfinite()) throw ModelRuntimeException("$modelVersion produced a non-finite embedding")
        if (sq == 0.0) throw ModelRuntimeException("$modelVersion produced a zero embedding")
        val norm = Math.sqrt(sq)
        return FloatArray(v.size) { (v[it].toDouble() / norm).toFloat() }
    }

    /** Runs the bundle's `golden_outputs.json` through this thread's engine ([SelfCheck.run]). */
    fun selfCheck(minCosine: Double = SelfCheck.DEFAULT_MIN_COSINE): SelfCheckReport =
        SelfCheck.run(bundle, engine(), minCosine)

    /** Engines created so far (one per thread that called [embed] / [run]). */
    val engineCount: Int get() = engines.size

    private fun engine(): InferenceEngine {
        check(!closed) { "this embedder is closed" }
        return local.get() ?: engineFactory(bundle).also {
            engines.add(it)
            local.set(it)
        }
    }

    override fun close() {
        closed = true
        synchronized(engines) {
            engines.forEach { it.close() }
            engines.clear()
        }
    }

    companion object {
        @JvmStatic
        fun cosineSimilarity(u: FloatArray, v: FloatArray): Double = Embeddings.cosineSimilarity(u, v)
    }
}
