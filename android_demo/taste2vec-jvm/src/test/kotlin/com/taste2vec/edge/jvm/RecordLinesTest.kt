package com.taste2vec.edge.jvm

import com.taste2vec.edge.core.Json
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.InputStream

/** The JSON-lines reader of `kotlin-embed`: one result per line, whatever the line holds, in bounded memory. */
class RecordLinesTest {
    private fun lines(data: ByteArray): List<Pair<String?, String>> {
        val out = ArrayList<Pair<String?, String>>()
        RecordLines.forEachLine(ByteArrayInputStream(data)) { t, r -> out.add(t to r) }
        return out
    }

    @Test
    fun lineEndingsAndTheLastLineAreReadAsPythonReadsThem() {
        assertEquals(listOf("a" to "", "b" to "", "" to "", "c" to ""), lines("a\r\nb\n\nc".toByteArray()))
        assertEquals(listOf("a" to ""), lines("a\n".toByteArray()))
        assertEquals(emptyList<Pair<String?, String>>(), lines(ByteArray(0)))
        assertEquals(listOf("x" to ""), lines("x\r\r\n".toByteArray()))  // every trailing \r and \n goes
    }

    @Test
    fun aLineThatIsNotUtf8IsReportedAndTheNextOneStillRead() {
        val got = lines(byteArrayOf(0x7b, 0xff.toByte(), 0x7d, 0x0a) + "ok\n".toByteArray() +
                        byteArrayOf(0xed.toByte(), 0xa0.toByte(), 0x80.toByte(), 0x0a))  // an encoded surrogate
        assertEquals(3, got.size)
        assertEquals(null, got[0].first)
        assertTrue(got[0].second, got[0].second.startsWith("not UTF-8"))
        assertEquals("ok" to "", got[1])
        assertEquals(null, got[2].first)
    }

    @Test
    fun aLineOverTheLimitIsSkippedWithoutBeingHeld() {
        val tail = "\n{\"notes\": \"after\"}\n".toByteArray()
        val total = 256L shl 20  // one line of 256 MiB, streamed: held whole it would take at least that much heap
        var served = 0L
        val huge = object : InputStream() {
            override fun read(): Int = throw UnsupportedOperationException()
            override fun read(b: ByteArray, off: Int, len: Int): Int {
                if (served >= total + tail.size) return -1
                val n = minOf(len.toLong(), total + tail.size - served).toInt()
                for (k in 0 until n) b[off + k] = if (served + k < total) 'x'.toByte() else tail[(served + k - total).toInt()]
                served += n
                return n
            }
        }
        val rt = Runtime.getRuntime()
        fun used(): Long {
            System.gc()
            return rt.totalMemory() - rt.freeMemory()
        }
        val before = used()
        var during = 0L
        val got = ArrayList<Pair<String?, String>>()
        RecordLines.forEachLine(huge) { t, r ->
            if (got.isEmpty()) during = used() - before  // while the reader still holds its buffer
            got.add(t to r)
        }
        assertEquals(2, got.size)
        assertEquals(null, got[0].first)
        assertTrue(got[0].second, got[0].second.contains("longer than ${RecordLines.MAX_LINE_BYTES}"))
        assertEquals("{\"notes\": \"after\"}", got[1].first)
        assertTrue("the reader held ${during shr 20} MiB for a 256 MiB line", during < (64L shl 20))
    }

    @Test
    fun everyLineGetsOneResultAndBadOnesNameTheirField() {
        val input = ("{\"notes\": \"jasmine\"}\nnot json\n{\"metrics\": {\"acidity\": NaN}}\n[" +
                     "[".repeat(600) + "\n{\"context\": [{\"hour\": 1e999}]}\n").toByteArray()
        val out = ByteArrayOutputStream()
        val counts = JvmFixtures.embedder().use { RecordLines.run(it, ByteArrayInputStream(input), out) }
        val rows = String(out.toByteArray(), Charsets.UTF_8).trim().lines().map { Json.parse(it) as Map<*, *> }
        assertEquals(5, rows.size)
        assertEquals(5, counts.lines)
        assertEquals(1, counts.embedded)
        assertEquals(128, (rows[0]["embedding"] as List<*>).size)
        val errors = rows.drop(1).map { (it["error"] as Map<*, *>).let { e -> e["type"] to e["field"] } }
        assertEquals(listOf("InvalidTypeError" to "record", "NonFiniteValueError" to "metrics.acidity",
                            "InvalidTypeError" to "record", "NonFiniteValueError" to "context[0].hour"), errors)
    }
}
