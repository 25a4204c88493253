package com.taste2vec.edge.core

/** One golden case's outcome: the cosine of the engine's vector to the golden one, and whether this module's
 *  preprocessing of the case's record gave exactly the golden tensors. */
class SelfCheckCase(val name: String, val cosine: Double, val maxAbsDiff: Double, val inputsMatch: Boolean)

/**
 * What [SelfCheck.run] found on this device: every case, the [worstCosine] (and which case), and [passed] when every
 * cosine is at least [minCosine] and the preprocessing reproduced every golden tensor exactly.
 */
class SelfCheckReport(val modelVersion: String, val cases: List<SelfCheckCase>, val minCosine: Double) {
    val worst: SelfCheckCase get() = cases.minBy { it.cosine }!!
    val worstCosine: Double get() = worst.cosine
    val maxAbsDiff: Double get() = cases.map { it.maxAbsDiff }.max()!!
    val preprocessingMismatches: List<String> get() = cases.filter { !it.inputsMatch }.map { it.name }
    val passed: Boolean get() = worstCosine >= minCosine && preprocessingMismatches.isEmpty()

    override fun toString(): String =
        "$modelVersion self-check ${if (passed) "PASSED" else "FAILED"}: ${cases.size} golden cases, worst cosine " +
        "%.6f (%s), max abs diff %.2g".format(worstCosine, worst.name, maxAbsDiff) +
        (if (preprocessingMismatches.isEmpty()) "" else ", preprocessing differs on $preprocessingMismatches")
}

/**
 * The on-device golden check: every bundle carries `golden_outputs.json` (the sample records, the exact tensors the
 * toolkit fed the model when it validated the bundle, and the embeddings it got). [run] feeds those tensors to an
 * engine and compares the vectors (a wrong runtime, delegate or corrupted model shows here), and preprocesses each
 * record with this module to check it reproduces the tensors bit for bit.
 */
object SelfCheck {
    const val GOLDEN_FILE = "golden_outputs.json"
    const val FORMAT = "taste2vec.golden/1"
    /** x86 builds agree to 1e-5 per value; ARM kernels round differently, so the default asks for cosine 0.999. */
    const val DEFAULT_MIN_COSINE = 0.999
    private const val MAX_CASES = 1000

    /** One golden case: its name, record (parsed JSON), the tensors fed to the model, and the expected embedding. */
    class Case(val name: String, val record: Any?, val inputs: ModelInputs, val embedding: FloatArray)

    /** The golden cases of [bundle] (BundleException when it has none or they are malformed). */
    @JvmStatic
    fun cases(bundle: ModelBundle): List<Case> {
        val bytes = bundle.fileBytes(GOLDEN_FILE)
            ?: throw BundleException("${bundle.origin}: no $GOLDEN_FILE in the bundle (written by taste2vec-convert export)")
        return try {
            parse(String(bytes, Charsets.UTF_8), bundle)
        } catch (e: JsonException) {
            throw BundleException("${bundle.origin}/$GOLDEN_FILE: ${e.message}")
        } catch (e: ClassCastException) {
            throw BundleException("${bundle.origin}/$GOLDEN_FILE: malformed (${e.message})")
        }
    }

    /** Runs every golden case through [engine]; see [SelfCheckReport]. */
    @JvmStatic
    @JvmOverloads
    fun run(bundle: ModelBundle, engine: InferenceEngine, minCosine: Double = DEFAULT_MIN_COSINE): SelfCheckReport {
        val pre = bundle.preprocessor()
        val out = cases(bundle).map { c ->
            val got = engine.run(c.inputs)
            var diff = 0.0
            if (got.size == c.embedding.size) {
                for (i in got.indices) diff = maxOf(diff, Math.abs(got[i].toDouble() - c.embedding[i].toDouble()))
            }
            val cos = if (got.size == c.embedding.size && got.any { it != 0f }) Embeddings.cosineSimilarity(got, c.embedding) else -1.0
            SelfCheckCase(c.name, if (cos.isNaN()) -1.0 else cos, if (got.size == c.embedding.size) diff else Double.POSITIVE_INFINITY,
                          sameInputs(pre.fromJson(c.record), c.inputs))
        }
        return SelfCheckReport(bundle.modelId, out, minCosine)
    }

    private fun parse(text: String, bundle: ModelBundle): List<Case> {
        val doc = Json.parse(text).obj(GOLDEN_FILE)
        if (doc["format"] != FORMAT) throw JsonException("format '${doc["format"]}', expected $FORMAT")
        val cases = doc["cases"].list("cases")
        if (cases.isEmpty() || cases.size > MAX_CASES) throw JsonException("cases: expected 1 to $MAX_CASES cases")
        val steps = bundle.spec.contextMaxSteps
        return cases.mapIndexed { k, raw ->
            val c = raw.obj("cases[$k]")
            val inputs = c["inputs"].obj("cases[$k].inputs")
            fun data(name: String): List<Any?> = inputs[name].obj("cases[$k].inputs.$name")["data"].list("cases[$k].inputs.$name.data")
            fun floats(name: String): FloatArray = flatten(data(name)).let { v -> FloatArray(v.size) { v[it].toFloat() } }
            val ids = flatten(data("token_ids")).let { v -> IntArray(v.size) { v[it].toInt() } }
            val tokens = (c["tokens"] as? List<*>)?.map { it.toString() } ?: emptyList()
            val emb = flatten(c["embedding"].list("cases[$k].embedding")).let { v -> FloatArray(v.size) { v[it].toFloat() } }
            Case(c["name"].str("cases[$k].name"), c["record"],
                 ModelInputs(ids, floats("lexicon"), floats("metrics"), floats("metrics_mask"), floats("context"),
                             floats("context_mask"), steps, (c["bucket"].num("cases[$k].bucket")).toInt(), tokens, false,
                             emptyList()),
                 emb)
        }
    }

    /** Nested JSON number lists ([[1, 2], [3, 4]]) flattened row-major. */
    private fun flatten(v: List<Any?>): List<Double> {
        val out = ArrayList<Double>()
        fun walk(x: Any?) {
            when (x) {
                is List<*> -> x.forEach { walk(it) }
                is Double -> out.add(x)
                else -> throw JsonException("expected numbers, got ${x?.javaClass?.simpleName}")
            }
        }
        walk(v)
        return out
    }

    private fun sameInputs(a: ModelInputs, b: ModelInputs): Boolean =
        a.bucket == b.bucket && a.tokenIds.contentEquals(b.tokenIds) && a.lexicon.contentEquals(b.lexicon) &&
        a.metrics.contentEquals(b.metrics) && a.metricsMask.contentEquals(b.metricsMask) &&
        a.context.contentEquals(b.context) && a.contextMask.contentEquals(b.contextMask)
}
