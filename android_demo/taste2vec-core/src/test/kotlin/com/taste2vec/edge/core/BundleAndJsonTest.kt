package com.taste2vec.edge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

/** A corrupt or mismatched bundle is refused with a clear message; the JSON reader is strict. */
class BundleAndJsonTest {
    private val dir = Fixtures.bundle.origin

    private fun files(): MutableMap<String, ByteArray> =
        File(dir).listFiles()!!.filter { it.isFile }.associate { it.name to it.readBytes() }.toMutableMap()

    private fun refused(files: Map<String, ByteArray>, expect: String) {
        try {
            ModelBundle.load("test-bundle", BundleTrust.PACKAGED) { files[it] }
            fail("bundle accepted, expected: $expect")
        } catch (e: BundleException) {
            assertTrue("'${e.message}' should mention '$expect'", e.message!!.contains(expect))
        }
    }

    @Test
    fun shippedBundleVerifiesAndNamesItsModel() {
        val b = Fixtures.bundle
        assertTrue(b.modelId.startsWith("taste2vec-edge-"))
        assertEquals(128, b.embeddingDim)
        assertEquals(b.manifest["files"].obj("files")["model.tflite"].obj("m")["sha256"], ModelBundle.sha256(b.modelBytes()))
    }

    @Test
    fun tamperedMissingOrMismatchedFilesAreRefused() {
        val flipped = files()
        val model = flipped.getValue("model.tflite").copyOf()
        model[model.size / 2] = (model[model.size / 2] + 1).toByte()
        flipped["model.tflite"] = model
        refused(flipped, "sha256 does not match")
        refused(files().apply { remove("tokenizer.json") }, "tokenizer.json: listed in the manifest but missing")
        refused(files().apply { remove("manifest.json") }, "no manifest.json")
        refused(files().apply { put("manifest.json", "{\"format\": \"other/9\"}".toByteArray()) }, "this module reads taste2vec.bundle/1")
        refused(files().apply { put("manifest.json", "{not json".toByteArray()) }, "unreadable manifest")
        val grown = files()
        grown["record_spec.json"] = grown.getValue("record_spec.json") + " ".toByteArray()
        refused(grown, "record_spec.json: size")
    }

    @Test
    fun jsonRoundTripsAndRejectsMalformedText() {
        val v = Json.parse("""{"a": [1, 2.5, -3e-2, true, null, "x\"\\\u00e9\ud83e\uded0"], "b": {}}""").obj("doc")
        assertEquals(listOf(1.0, 2.5, -0.03, true, null, "x\"\\é🫐"), v["a"])
        assertEquals(v, Json.parse(Json.write(v)))
        for (bad in listOf("", "{", "[1,]", "{\"a\" 1}", "01x", "\"unterminated", "[1] 2", "tru")) {
            try {
                Json.parse(bad)
                fail("parsed malformed JSON: $bad")
            } catch (e: JsonException) {
            }
        }
    }

    @Test
    fun jsonNumbersFollowTheGrammarAndNestingIsBounded() {
        for (bad in listOf("01", "+1", ".5", "1.", "1e", "-", "0x10", "NaN", "Infinity", "-Infinity", "\"\\uZZZZ\"",
                           "\"\\u12\"", "\"\\x\"", "[".repeat(Json.MAX_DEPTH + 1) + "]".repeat(Json.MAX_DEPTH + 1),
                           "[".repeat(100_000), "1" + "0".repeat(Json.MAX_INT_DIGITS))) {
            try {
                Json.parse(bad)
                fail("parsed malformed JSON: ${bad.take(40)}")
            } catch (e: JsonException) {  // never a StackOverflowError or NumberFormatException
            }
        }
        assertEquals(listOf(0.0, -0.0, 1e300, 12.0), Json.parse("[0, -0.0, 1e300, 12]"))
        val deepest = Json.parse("[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH))  // the limit itself is fine
        assertEquals(1, (deepest as List<*>).size)
        // Python's json.loads reads these; records refuse them by field (NonFiniteValueError, OutOfRangeError)
        val py = Json.parse("[NaN, Infinity, -Infinity, -0, 1${"0".repeat(400)}]", true) as List<*>
        assertTrue((py[0] as Double).isNaN())
        assertEquals(listOf(Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0L), py.subList(1, 4))
        assertEquals(java.math.BigInteger.TEN.pow(400), py[4])
        assertEquals(Double.POSITIVE_INFINITY, 1.0 / (Json.parse("-0") as Double), 0.0)  // the integer -0 is 0
    }

    @Test
    fun loneSurrogatesAreWrittenAsEscapes() {
        val text = Json.write(listOf("a\ud800b", "\ud83e\udec6", "x\udc00"))
        assertEquals("[\"a\\ud800b\",\"\ud83e\udec6\",\"x\\udc00\"]", text)
        assertEquals(listOf("a\ud800b", "\ud83e\udec6", "x\udc00"), Json.parse(text))
    }
}
