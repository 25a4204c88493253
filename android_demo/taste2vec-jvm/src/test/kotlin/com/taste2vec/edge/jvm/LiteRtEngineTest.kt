package com.taste2vec.edge.jvm

import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.BundleException
import com.taste2vec.edge.core.BundleTrust
import com.taste2vec.edge.core.Json
import com.taste2vec.edge.core.ModelBundle
import com.taste2vec.edge.core.ModelInputs
import com.taste2vec.edge.core.ModelRuntimeException
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import java.security.MessageDigest
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/** The JNA engine on the shipped bundle: golden vectors, threads, lifetime, and typed failures (never a crash). */
class LiteRtEngineTest {
    private val bundle = JvmFixtures.bundle
    private val inputs = bundle.preprocessor().fromJson(Json.parse("""{"notes": "밝은 산미, jasmine", "metrics": {"acidity": 7.5}}"""))

    @Test
    fun theBundlesGoldenRecordsRunOnTheRealRuntime() {
        val report = JvmFixtures.embedder().use { it.selfCheck() }
        println("self-check on LiteRT (JNA): $report")
        assertTrue(report.toString(), report.passed)
        assertTrue("worst cosine ${report.worstCosine}", report.worstCosine >= 0.9999)
        assertEquals(12, report.cases.size)
    }

    @Test
    fun eachThreadGetsItsOwnEngineAndTheSameVectors() {
        val emb = JvmFixtures.embedder()
        val want = emb.run(inputs)
        val pool = Executors.newFixedThreadPool(4)
        val results = (0 until 16).map { pool.submit<FloatArray> { emb.run(inputs) } }.map { it.get(60, TimeUnit.SECONDS) }
        pool.shutdown()
        results.forEach { assertArrayEquals(want, it, 0f) }
        assertTrue("engines ${emb.engineCount}", emb.engineCount in 2..5)
        emb.close()
        try {
            emb.run(inputs)
            fail("a closed embedder ran")
        } catch (e: IllegalStateException) {
            assertTrue(e.message!!.contains("closed"))
        }
    }

    @Test
    fun aRecordWithoutContextRunsTheContextFreeSignatureWithTheSameVector() {
        val withContext = bundle.preprocessor().fromJson(Json.parse(
            """{"notes": "밝은 산미, jasmine", "context": [{"hour": 8, "weekday": "mon"}]}"""))
        LiteRtJvmEngine.create(bundle).use { engine ->
            for (b in bundle.tokenizer.buckets) {
                val x = ModelInputs(IntArray(b), inputs.lexicon, inputs.metrics, inputs.metricsMask, inputs.context,
                                    inputs.contextMask, inputs.contextSteps, b, emptyList(), false, emptyList())
                assertEquals("embed_${b}_c0", engine.signatureFor(x))
                assertArrayEquals("bucket $b", engine.run(x, "embed_$b"), engine.run(x), 0f)
            }
            assertEquals(withContext.signature, engine.signatureFor(withContext))
            assertTrue(withContext.hasContext && !inputs.hasContext)
            assertArrayEquals(engine.run(inputs, inputs.signature), engine.run(inputs), 0f)
        }
    }

    @Test
    fun aClosedEngineRefusesToRunAndClosingTwiceIsHarmless() {
        val engine = LiteRtJvmEngine.create(bundle)
        assertEquals(bundle.embeddingDim, engine.run(inputs).size)
        engine.close()
        engine.close()
        expect<ModelRuntimeException>("closed") { engine.run(inputs) }
    }

    @Test
    fun inputsTheModelDoesNotTakeAreTypedErrors() {
        LiteRtJvmEngine.create(bundle).use { engine ->
            val wrongBucket = ModelInputs(IntArray(999), inputs.lexicon, inputs.metrics, inputs.metricsMask, inputs.context,
                                          inputs.contextMask, inputs.contextSteps, 999, emptyList(), false, emptyList())
            expect<ModelRuntimeException>("no signature embed_999") { engine.run(wrongBucket) }
            val shortLexicon = ModelInputs(inputs.tokenIds, FloatArray(3), inputs.metrics, inputs.metricsMask, inputs.context,
                                           inputs.contextMask, inputs.contextSteps, inputs.bucket, emptyList(), false, emptyList())
            expect<ModelRuntimeException>("lexicon has 3 values") { engine.run(shortLexicon) }
            val badIds = IntArray(inputs.tokenIds.size) { Int.MAX_VALUE }  // past the embedding table
            val outOfVocab = ModelInputs(badIds, inputs.lexicon, inputs.metrics, inputs.metricsMask, inputs.context,
                                         inputs.contextMask, inputs.contextSteps, inputs.bucket, emptyList(), false, emptyList())
            println("(expected: LiteRT logs an out-of-bounds embedding lookup on stderr for the next run)")
            val e = expect<LiteRtException>("LiteRtRunCompiledModel") { engine.run(outOfVocab) }
            assertEquals(LiteRtStatus.ERROR_RUNTIME_FAILURE, e.status)
            assertArrayEquals("the engine still works after a failed run", engine.run(inputs), engine.run(inputs), 0f)
        }
    }

    @Test
    fun aCorruptModelIsALiteRtExceptionAtCreation() {
        val files = bundleFiles()
        files["model.tflite"] = ByteArray(4096) { (it * 7).toByte() }
        val e = expect<LiteRtException>("LiteRtCreateModelFromBuffer") { LiteRtJvmEngine.create(rebundle(files)) }
        assertTrue(e.status.toString(), e.status != LiteRtStatus.OK && e.status != LiteRtStatus.UNRECOGNIZED)
    }

    @Test
    fun aModelThatDoesNotFitTheBundlesFilesIsRefused() {
        val files = bundleFiles()
        val tok = String(files.getValue("tokenizer.json"), Charsets.UTF_8)
        val buckets = Regex("\"buckets\":\\s*\\[[0-9,\\s]+]").find(tok)!!.value
        files["tokenizer.json"] = tok.replace(buckets, buckets.replace("]", ", 256]")).toByteArray()
        expect<BundleException>("no signature embed_256") { LiteRtJvmEngine.create(rebundle(files, "256")) }
    }

    @Test
    fun everyStatusHasItsCNameInTheRuntimeLibrary() {
        val lib = String(LiteRtLibrary.load().path.readBytes(), Charsets.ISO_8859_1)
        for (s in LiteRtStatus.values().filter { it != LiteRtStatus.UNRECOGNIZED }) {
            assertTrue("${s.cName} (${s.code}) is not in libLiteRt.so", lib.contains(s.cName + "\u0000"))
            assertEquals(s, LiteRtStatus.of(s.code))
        }
        assertEquals(LiteRtStatus.UNRECOGNIZED, LiteRtStatus.of(77))
        assertEquals(77, LiteRtException(LiteRtStatus.of(77), 77, "f", "").code)
    }

    @Test
    fun aMissingLibraryNamesWhereItWasLookedFor() {
        val old = System.getProperty(LiteRtLibrary.PROPERTY)
        System.setProperty(LiteRtLibrary.PROPERTY, "/nonexistent/libLiteRt.so")
        try {
            val e = expect<LiteRtUnavailableException>("/nonexistent/libLiteRt.so") { LiteRtLibrary.locate() }
            assertEquals("RuntimeUnavailableError", e.errorType)
        } finally {
            if (old == null) System.clearProperty(LiteRtLibrary.PROPERTY) else System.setProperty(LiteRtLibrary.PROPERTY, old)
        }
        expect<LiteRtUnavailableException>("already loaded") { LiteRtLibrary.load(File("/tmp/other/libLiteRt.so")) }
        assertEquals(LiteRtLibrary.locate().canonicalFile, LiteRtLibrary.load().path)
    }

    private fun bundleFiles(): MutableMap<String, ByteArray> =
        File(bundle.origin).listFiles()!!.filter { it.isFile }.associate { it.name to it.readBytes() }.toMutableMap()

    /** A development bundle of [files] with the manifest's sizes and hashes updated (so only the content differs). */
    private fun rebundle(files: MutableMap<String, ByteArray>, tag: String = "x"): ModelBundle {
        var manifest = String(files.getValue("manifest.json"), Charsets.UTF_8)
        for (name in listOf("model.tflite", "tokenizer.json")) {
            val old = bundle.fileBytes(name)!!
            val new = files.getValue(name)
            manifest = manifest.replace(sha(old), sha(new)).replace("\"size\": ${old.size}", "\"size\": ${new.size}")
        }
        files["manifest.json"] = manifest.toByteArray()
        return ModelBundle.load("test-bundle-$tag", BundleTrust.DEVELOPMENT) { files[it] }
    }

    private fun sha(b: ByteArray) = MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) }

    private inline fun <reified T : Throwable> expect(text: String, block: () -> Unit): T {
        try {
            block()
        } catch (e: Throwable) {
            if (e !is T) throw AssertionError("expected ${T::class.java.simpleName}, got $e", e)
            assertTrue("'${e.message}' should mention '$text'", e.message!!.contains(text))
            return e
        }
        throw AssertionError("no ${T::class.java.simpleName} ($text)")
    }
}
