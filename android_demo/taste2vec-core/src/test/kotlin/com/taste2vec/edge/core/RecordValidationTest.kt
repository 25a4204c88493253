package com.taste2vec.edge.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** Bad input gets a typed error naming the field and the allowed range, as in the Python SDK; nothing becomes NaN. */
class RecordValidationTest {
    private val spec = Fixtures.bundle.spec
    private val pre = Fixtures.bundle.preprocessor()

    private inline fun <reified T : RecordValidationException> rejects(field: String, block: () -> Unit): T {
        try {
            block()
        } catch (e: RecordValidationException) {
            assertTrue("expected ${T::class.java.simpleName}, got ${e.javaClass.simpleName}: ${e.message}", e is T)
            assertEquals(field, e.field)
            assertTrue("message names the field: ${e.message}", e.message!!.startsWith("$field: "))
            return e as T
        }
        fail("no error for $field")
        throw AssertionError()
    }

    @Test
    fun everyMetricRejectsWrongTypeNonFiniteAndOutOfRange() {
        for (m in spec.metrics) {
            val f = "metrics.${m.name}"
            rejects<InvalidTypeException>(f) { TastingRecord.create(spec, "", mapOf(m.name to "7")) }
            rejects<InvalidTypeException>(f) { TastingRecord.create(spec, "", mapOf(m.name to true)) }
            rejects<NonFiniteValueException>(f) { TastingRecord.create(spec, "", mapOf(m.name to Double.NaN)) }
            rejects<NonFiniteValueException>(f) { TastingRecord.create(spec, "", mapOf(m.name to Double.POSITIVE_INFINITY)) }
            val e = rejects<OutOfRangeException>(f) { TastingRecord.create(spec, "", mapOf(m.name to m.max + 1)) }
            assertTrue(e.allowed, e.allowed.contains(fmt(m.max)))
            rejects<OutOfRangeException>(f) { TastingRecord.create(spec, "", mapOf(m.name to m.min - 1)) }
            assertEquals(m.max, TastingRecord.create(spec, "", mapOf(m.name to m.max)).metrics[m.name]!!, 0.0)
        }
        rejects<UnknownFieldException>("metrics.sweetnes") { TastingRecord.create(spec, "", mapOf("sweetnes" to 5)) }
    }

    @Test
    fun contextFieldsAreCheckedByKind() {
        rejects<InvalidTypeException>("context[0].hour") { TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("hour" to 7.5))) }
        rejects<OutOfRangeException>("context[1].hour") {
            TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("hour" to 7), mapOf("hour" to 24)))
        }
        val e = rejects<UnknownCategoryException>("context[0].weekday") {
            TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("weekday" to "monday")))
        }
        assertTrue(e.allowed.contains("'mon'"))
        rejects<UnknownFieldException>("context[0].temperature") {
            TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("temperature" to 20)))
        }
        rejects<NonFiniteValueException>("context[0].mood") { TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("mood" to Double.NaN))) }
        // categories are trimmed and lower-cased, as in Python
        val r = TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("weekday" to " MON ", "social" to null)))
        assertEquals("mon", r.context[0]["weekday"])
    }

    @Test
    fun notesAreCutAtTheSpecLengthInCodePointsAndRefusedWhenFarTooLong() {
        val emoji = "🫐".repeat(spec.notesMaxChars + 10)  // 2 UTF-16 units each: code points count, as in Python
        val r = TastingRecord.create(spec, emoji)
        assertEquals(spec.notesMaxChars, Text.length(r.notes))
        assertEquals(listOf("notes: truncated from ${spec.notesMaxChars + 10} to ${spec.notesMaxChars} characters"), r.warnings)
        rejects<OutOfRangeException>("notes") { TastingRecord.create(spec, "a".repeat(spec.notesRejectChars + 1)) }
        rejects<InvalidTypeException>("notes") { TastingRecord.fromJson(spec, mapOf("notes" to 5.0)) }
        rejects<UnknownFieldException>("tasting") { TastingRecord.fromJson(spec, mapOf("tasting" to "x")) }
    }

    @Test
    fun moreSnapshotsThanStepsKeepTheNewestLeftPadded() {
        val snaps = (0 until spec.contextMaxSteps + 2).map { mapOf<String, Any?>("hour" to it) }
        val inputs = pre(TastingRecord.create(spec, "", emptyMap(), snaps))
        assertTrue(inputs.contextMask.all { it == 1f })
        assertTrue(inputs.warnings.any { it.startsWith("context: kept the newest ${spec.contextMaxSteps}") })
        val one = pre(TastingRecord.create(spec, "", emptyMap(), listOf(mapOf("hour" to 6))))
        val w = spec.contextWidth
        assertArrayEquals(FloatArray(spec.contextMaxSteps - 1) + 1f, one.contextMask, 0f)
        // hour 6 of 24: sin = 1, cos ~ 0, present = 1, in the last (newest) slot
        val last = (spec.contextMaxSteps - 1) * w
        assertEquals(1f, one.context[last], 1e-7f)
        assertEquals(1f, one.context[last + 2], 0f)
        assertTrue(one.context.take(last).all { it == 0f })
    }

    @Test
    fun emptyRecordIsValidAndAllZero() {
        val inputs = pre.fromJson(emptyMap<String, Any?>())
        assertEquals(Fixtures.bundle.tokenizer.buckets[0], inputs.bucket)
        assertTrue(inputs.tokenIds.all { it == 0 } && inputs.lexicon.all { it == 0f } && inputs.metricsMask.all { it == 0f })
    }
}
