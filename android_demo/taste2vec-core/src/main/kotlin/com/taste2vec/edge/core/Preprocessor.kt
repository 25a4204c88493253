package com.taste2vec.edge.core

/**
 * One record's model inputs, flat row-major arrays with an implied leading batch dimension of 1, named as the
 * model's signature inputs (`INPUT_NAMES`): `token_ids` int32[bucket], `lexicon` float32[L], `metrics` and
 * `metrics_mask` float32[M], `context` float32[S * C] (S snapshots, oldest first, left-padded), `context_mask`
 * float32[S]. [bucket] names the signature to run: `embed_<bucket>`.
 */
class ModelInputs(val tokenIds: IntArray, val lexicon: FloatArray, val metrics: FloatArray,
                  val metricsMask: FloatArray, val context: FloatArray, val contextMask: FloatArray,
                  val contextSteps: Int, val bucket: Int, val tokens: List<String>, val tokensTruncated: Boolean,
                  val warnings: List<String>) {
    val signature: String get() = signatureName(bucket)

    /** Whether a context snapshot is recorded (a mask entry is set). */
    val hasContext: Boolean get() = contextMask.any { it != 0f }

    /**
     * The bucket's signature for records without context snapshots, `embed_<bucket>_c0`: no context inputs, and the
     * same vector as [signature] for such a record, without the context branch. Optional in a model.
     */
    val contextFreeSignature: String get() = signatureName(bucket, context = false)

    /** Shapes with the batch dimension, as in the bundle manifest. */
    fun shapes(): Map<String, IntArray> = linkedMapOf(
        "token_ids" to intArrayOf(1, tokenIds.size), "lexicon" to intArrayOf(1, lexicon.size),
        "metrics" to intArrayOf(1, metrics.size), "metrics_mask" to intArrayOf(1, metricsMask.size),
        "context" to intArrayOf(1, contextSteps, context.size / contextSteps), "context_mask" to intArrayOf(1, contextSteps))

    companion object {
        @JvmField
        val INPUT_NAMES = listOf("token_ids", "lexicon", "metrics", "metrics_mask", "context", "context_mask")

        /** What a [contextFreeSignature] leaves out of [INPUT_NAMES]. */
        @JvmField
        val CONTEXT_INPUTS = setOf("context", "context_mask")

        /** `embed_<bucket>`, or with [context] false `embed_<bucket>_c0` (see [contextFreeSignature]). */
        @JvmStatic
        @JvmOverloads
        fun signatureName(bucket: Int, context: Boolean = true): String = if (context) "embed_$bucket" else "embed_${bucket}_c0"
    }
}

/**
 * Record -> the exact tensors a Taste2Vec bundle's model takes, from the bundle's own files (record spec,
 * tokenizer, lexicon): the Python SDK's `taste2vec.preprocess.Preprocessor` + `taste2vec.features`. Thread-safe.
 */
class Preprocessor(val spec: RecordSpec, val tokenizer: WordPieceTokenizer, val lexicon: SensoryLexicon) {

    /** Validates a parsed-JSON record and preprocesses it. */
    fun fromJson(record: Any?): ModelInputs = invoke(TastingRecord.fromJson(spec, record))

    operator fun invoke(rec: TastingRecord): ModelInputs {
        val m = spec.numMetrics
        val metrics = FloatArray(m)
        val mask = FloatArray(m)
        spec.metrics.forEachIndexed { i, ms ->
            val v = rec.metrics[ms.name]
            if (v != null) {
                metrics[i] = v.toFloat()
                mask[i] = 1f
            }
        }
        val steps = spec.contextMaxSteps
        val width = spec.contextWidth
        val ctx = FloatArray(steps * width)
        val cmask = FloatArray(steps)
        val offset = steps - rec.context.size
        rec.context.forEachIndexed { j, snap ->
            encodeSnapshot(snap, ctx, (offset + j) * width)
            cmask[offset + j] = 1f
        }
        val notes = Text.normalize(rec.notes)
        val lex = lexicon.vector(notes)
        val enc = tokenizer.encode(notes)
        val bucket = tokenizer.bucketFor(enc.ids.size)
        val ids = IntArray(bucket)
        System.arraycopy(enc.ids, 0, ids, 0, enc.ids.size)
        val warnings = ArrayList(rec.warnings)
        if (enc.truncated) warnings.add("notes: tokenized text cut to the model's ${tokenizer.maxTokens} tokens")
        return ModelInputs(ids, lex, metrics, mask, ctx, cmask, steps, bucket, enc.tokens, enc.truncated, warnings)
    }

    /** Encodes one snapshot into `out` from column `at` on: cyclic (sin, cos, 1), one-hot, numeric (scaled, 1). */
    fun encodeSnapshot(snap: ContextSnapshot, out: FloatArray, at: Int) {
        var col = at
        for (f in spec.contextFields) {
            val v = snap[f.name]
            if (v != null) {
                when (f.kind) {
                    "cyclic" -> {
                        val angle = 2.0 * Math.PI * (v as Number).toDouble() / f.period!!.toDouble()
                        out[col] = StrictMath.sin(angle).toFloat()
                        out[col + 1] = StrictMath.cos(angle).toFloat()
                        out[col + 2] = 1f
                    }
                    "categorical" -> out[col + f.categories.indexOf(v as String)] = 1f
                    else -> {
                        val mid = (f.max!! + f.min!!) / 2.0
                        val half = (f.max - f.min) / 2.0
                        out[col] = (((v as Number).toDouble() - mid) / half).toFloat()
                        out[col + 1] = 1f
                    }
                }
            }
            col += f.width
        }
    }
}
