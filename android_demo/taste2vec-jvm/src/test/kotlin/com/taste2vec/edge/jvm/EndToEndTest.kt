package com.taste2vec.edge.jvm

import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.BundleTrust
import com.taste2vec.edge.core.Json
import com.taste2vec.edge.core.ModelBundle
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.ByteArrayOutputStream
import java.io.File

/** Where the tests find their inputs: system properties set by android_demo/jvm.sh (defaults: repository root). */
object JvmFixtures {
    val goldenDir: File get() = File(System.getProperty("taste2vec.golden") ?: "build/golden")

    val bundle: ModelBundle by lazy {
        val d = File(System.getProperty("taste2vec.bundle") ?: "sdk/taste2vec/models/DEFAULT").canonicalFile
        ModelBundle.load(if (d.isFile) File(d.parentFile, d.readText().trim()) else d, BundleTrust.PACKAGED)
    }

    fun embedder(): BundleEmbedder = BundleEmbedder(bundle, LiteRtJvmEngine.factory())
}

/**
 * The Kotlin library end to end on LiteRT's real runtime against the Python SDK: `e2e_records.jsonl` (>= 1,000
 * valid records in English, Korean and mixed, every token bucket, missing modalities, long notes; >= 200 bad lines)
 * through [RecordLines] (the `kotlin-embed` tool's code) must give `e2e_expected.jsonl`, which `taste2vec embed
 * --jsonl` wrote: every vector within cosine 0.9999, every error with the same type, field and message (only a JSON
 * syntax error is worded by each language's own parser).
 */
class EndToEndTest {
    @Test
    fun kotlinGivesThePythonSdksVectorsAndErrors() {
        val records = File(JvmFixtures.goldenDir, "e2e_records.jsonl")
        val expected = File(JvmFixtures.goldenDir, "e2e_expected.jsonl").readLines().map { Json.parse(it).asMap() }
        val out = ByteArrayOutputStream()
        val counts = JvmFixtures.embedder().use { emb -> records.inputStream().use { RecordLines.run(emb, it, out) } }
        val got = String(out.toByteArray(), Charsets.UTF_8).lines().filter { it.isNotEmpty() }.map { Json.parse(it).asMap() }
        assertEquals("one output line per input line", expected.size, got.size)
        assertEquals(counts.lines, got.size)
        var minCos = 1.0
        var maxDiff = 0.0
        var vectors = 0
        var errors = 0
        var sameMessage = 0
        val wrong = ArrayList<String>()
        for ((i, e) in expected.withIndex()) {
            val g = got[i]
            val ee = e["error"]?.asMap()
            if (ee == null) {
                val a = (e["embedding"] as List<*>).map { (it as Double).toFloat() }.toFloatArray()
                val b = (g["embedding"] as? List<*>)?.map { (it as Double).toFloat() }?.toFloatArray()
                if (b == null || g["bucket"] != e["bucket"] || g["model_version"] != e["model_version"]) {
                    wrong.add("line ${i + 1}: expected a vector (bucket ${e["bucket"]}), got $g")
                    continue
                }
                vectors++
                minCos = minOf(minCos, BundleEmbedder.cosineSimilarity(a, b))
                for (k in a.indices) maxDiff = maxOf(maxDiff, Math.abs(a[k].toDouble() - b[k].toDouble()))
            } else {
                errors++
                val ge = g["error"]?.asMap()
                if (ge == null || ge["type"] != ee["type"] || ge["field"] != ee["field"]) {
                    wrong.add("line ${i + 1}: expected ${ee["type"]} at ${ee["field"]}, got ${ge ?: "a vector"}")
                } else if (ge["message"] == ee["message"]) {
                    sameMessage++
                } else if (!(ee["message"] as String).contains("not valid JSON")) {  // parsers word syntax errors apart
                    wrong.add("line ${i + 1}: message '${ge["message"]}', Python says '${ee["message"]}'")
                }
            }
        }
        println("end to end: $vectors records, min cosine %.9f, max abs diff %.3g; $errors bad lines (%d with Python's "
                    .format(minCos, maxDiff, sameMessage) + "exact message), ${wrong.size} differ")
        assertTrue(wrong.take(10).joinToString("\n"), wrong.isEmpty())
        assertTrue("at least 1,000 records ($vectors)", vectors >= 1000)
        assertTrue("at least 200 bad lines ($errors)", errors >= 200)
        assertTrue("min cosine $minCos", minCos >= 0.9999)
    }

    @Suppress("UNCHECKED_CAST")
    private fun Any?.asMap(): Map<String, Any?> = this as Map<String, Any?>
}
