package com.taste2vec.edge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.util.Collections
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * The on-device golden self-check and the per-thread engines, with engines that replay the bundle's golden vectors
 * (what a correct interpreter returns) or get them wrong.
 */
class SelfCheckTest {
    private val bundle = Fixtures.bundle
    private val cases = SelfCheck.cases(bundle)

    private fun key(i: ModelInputs): String =
        "${i.bucket}|${i.tokenIds.contentHashCode()}|${i.lexicon.contentHashCode()}|${i.metrics.contentHashCode()}|" +
        "${i.metricsMask.contentHashCode()}|${i.context.contentHashCode()}|${i.contextMask.contentHashCode()}"

    /** Answers every golden input with its golden vector, as the shipped model does. */
    inner class ReplayEngine(val transform: (FloatArray) -> FloatArray = { it }) : InferenceEngine {
        private val vectors = cases.associate { key(it.inputs) to it.embedding }
        var closed = false

        override fun run(inputs: ModelInputs): FloatArray =
            transform(vectors[key(inputs)] ?: throw AssertionError("inputs not among the golden cases"))

        override fun close() {
            closed = true
        }
    }

    @Test
    fun everyGoldenCaseParsesWithItsTensorShapes() {
        assertEquals(12, cases.size)
        for (c in cases) {
            assertEquals(c.name, c.inputs.bucket, c.inputs.tokenIds.size)
            assertEquals(c.name, bundle.lexicon.dim, c.inputs.lexicon.size)
            assertEquals(c.name, bundle.embeddingDim, c.embedding.size)
        }
    }

    @Test
    fun aCorrectEngineAndThisPreprocessingPassTheSelfCheck() {
        val report = bundle.selfCheck(ReplayEngine())
        assertTrue(report.toString(), report.passed)
        assertEquals(1.0, report.worstCosine, 1e-9)
        assertEquals(0.0, report.maxAbsDiff, 0.0)
        assertTrue(report.preprocessingMismatches.isEmpty())  // the Kotlin preprocessing gives the golden tensors
    }

    @Test
    fun aWrongEngineFailsAndTheReportNamesTheWorstCase() {
        val victim = cases[3].name
        val wrong = ReplayEngine { v ->
            if (v === cases[3].embedding) FloatArray(v.size) { i -> if (i % 2 == 0) v[i] else -v[i] } else v
        }
        val report = SelfCheck.run(bundle, wrong)
        assertFalse(report.passed)
        assertEquals(victim, report.worst.name)
        assertTrue(report.worstCosine < 0.9)
        assertTrue(report.toString(), report.toString().contains("FAILED") && report.toString().contains(victim))
        // slightly different kernels (ARM rounding) still pass
        val noisy = SelfCheck.run(bundle, ReplayEngine { v -> FloatArray(v.size) { v[it] + 1e-4f } })
        assertTrue(noisy.toString(), noisy.passed && noisy.worstCosine < 1.0)
        val zeros = SelfCheck.run(bundle, ReplayEngine { v -> FloatArray(v.size) })
        assertFalse(zeros.passed)
    }

    @Test
    fun eachThreadGetsItsOwnEngineAndCloseClosesThemAll() {
        val made = Collections.synchronizedList(ArrayList<ReplayEngine>())
        val emb = BundleEmbedder(bundle) { ReplayEngine().also { made.add(it) } }
        val pool = Executors.newFixedThreadPool(4)
        val results = Collections.synchronizedList(ArrayList<FloatArray>())
        val start = java.util.concurrent.CountDownLatch(1)
        repeat(4) {
            pool.execute {
                start.await()
                repeat(25) { k -> results.add(emb.embedJson(cases[k % cases.size].record).embedding) }
            }
        }
        start.countDown()
        pool.shutdown()
        assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS))
        assertEquals(100, results.size)
        assertEquals(4, emb.engineCount)  // one engine per thread, reused for its 25 calls
        assertTrue(emb.selfCheck().passed)  // this thread's own (fifth) engine
        emb.close()
        assertEquals(5, made.size)
        assertTrue(made.all { it.closed })
        try {
            emb.embedJson(cases[0].record)
            fail("embedded after close")
        } catch (e: IllegalStateException) {
            assertTrue(e.message!!.contains("closed"))
        }
    }

    @Test
    fun anEmbeddingCarriesTheModelVersionBucketAndAttributes() {
        val emb = BundleEmbedder(bundle) { ReplayEngine() }
        val c = cases.first { it.name == "en_washed_ethiopia" }
        val r = emb.embedJson(c.record)
        assertEquals(bundle.modelId, r.modelVersion)
        assertEquals(c.inputs.bucket, r.bucket)
        assertTrue(r.attributes.keys.any { it.contains("Jasmine") })
        assertTrue(r.timing.totalMs >= 0.0)
        emb.close()
    }
}
