package com.taste2vec.edge.core

/**
 * The taster's situation at one moment: field name -> value, every field optional. Values are validated against
 * the spec's `context.fields`: `Int` for cyclic fields (hour), `Double` for numeric ones, the lower-cased
 * category `String` for categorical ones.
 */
class ContextSnapshot internal constructor(val values: Map<String, Any>) {
    operator fun get(field: String): Any? = values[field]

    fun toJson(): Map<String, Any?> = values

    companion object {
        /**
         * Validates a snapshot (errors name `context[index].field`), its fields in the order given, as the Python
         * SDK does. Nulls mean "not recorded".
         */
        @JvmStatic
        @JvmOverloads
        fun create(spec: RecordSpec, fields: Map<String, Any?>, index: Int = 0): ContextSnapshot {
            val path = "context[$index]"
            val valid = HashMap<String, Any>()
            for ((k, v) in fields) {
                val f = spec.contextField(k) ?: throw UnknownFieldException(
                    "$path.$k", "unknown context field", "one of " + spec.contextFields.joinToString(", ") { it.name }, k)
                if (v != null) valid[k] = validateContextValue(f, v, "$path.$k")
            }
            val out = LinkedHashMap<String, Any>()
            for (f in spec.contextFields) valid[f.name]?.let { out[f.name] = it }  // spec order: equal snapshots serialize alike
            return ContextSnapshot(out)
        }

        /** A snapshot from parsed JSON: an object, or [InvalidTypeException] naming `context[index]`. */
        internal fun fromJson(spec: RecordSpec, data: Any?, index: Int): ContextSnapshot {
            val d = data as? Map<*, *> ?: throw InvalidTypeException(
                "context[$index]", "expected an object, got ${typeName(data)}",
                "an object with fields " + spec.contextFields.joinToString(", ") { it.name }, data)
            return create(spec, d.entries.associate { it.key.toString() to it.value }, index)
        }
    }
}

/**
 * One tasting: notes (EN, KO or mixed), metrics by spec name, recent context snapshots (newest last). Built by
 * [create] / [fromJson], which validate everything against the record spec, like the Python `TastingRecord`:
 * notes over `notes.max_chars` code points are cut (over `reject_over_chars` refused), more than
 * `context.max_steps` snapshots keep the newest.
 */
class TastingRecord private constructor(val notes: String, val metrics: Map<String, Double>,
                                        val context: List<ContextSnapshot>, val notesTruncatedFrom: Int?,
                                        val contextDropped: Int) {
    /** What validation changed (truncated notes, dropped snapshots), worded as in the Python SDK. */
    val warnings: List<String>
        get() {
            val out = ArrayList<String>()
            if (notesTruncatedFrom != null) {
                out.add("notes: truncated from $notesTruncatedFrom to ${Text.length(notes)} characters")
            }
            if (contextDropped > 0) {
                out.add("context: kept the newest ${context.size} snapshots, dropped $contextDropped")
            }
            return out
        }

    /** JSON-ready mapping that [fromJson] reads back to an equal record. */
    fun toJson(): Map<String, Any?> = linkedMapOf("notes" to notes, "metrics" to metrics,
                                                  "context" to context.map { it.toJson() })

    companion object {
        /** Validates and builds a record; [metrics] and [context] values may be null (= not recorded). */
        @JvmStatic
        @JvmOverloads
        fun create(spec: RecordSpec, notes: String? = "", metrics: Map<String, Any?> = emptyMap(),
                   context: List<Map<String, Any?>> = emptyList()): TastingRecord =
            validate(spec, notes, metrics, context)

        /** A record from parsed JSON (`{"notes": ..., "metrics": {...}, "context": [...]}`). */
        @JvmStatic
        fun fromJson(spec: RecordSpec, data: Any?): TastingRecord {
            val d = data as? Map<*, *> ?: throw InvalidTypeException("record", "expected an object, got ${typeName(data)}",
                                                                     "an object with keys notes, metrics, context", data)
            for (k in d.keys) {
                if (k != "notes" && k != "metrics" && k != "context") {
                    throw UnknownFieldException(k.toString(), "unknown record field", "notes, metrics, context", k)
                }
            }
            return validate(spec, d["notes"], d["metrics"], d["context"])
        }

        /**
         * The Python SDK's `TastingRecord.__post_init__`, step for step, so the first error found is the same
         * one: notes (type, then length), metrics in the order given (unknown name, then value), context (type,
         * then each snapshot in order); every snapshot is validated before the newest `context.max_steps` are kept.
         */
        private fun validate(spec: RecordSpec, notes: Any?, metrics: Any?, context: Any?): TastingRecord {
            val n = validateNotes(spec, notes)
            val m = validateMetrics(spec, metrics ?: emptyMap<String, Any?>())
            val ctx = context ?: emptyList<Any?>()
            if (ctx !is List<*>) {
                throw InvalidTypeException("context", "expected a list of snapshots, got ${typeName(ctx)}",
                                           "a list of at most ${spec.contextMaxSteps} snapshots, newest last", ctx)
            }
            val snaps = ctx.mapIndexed { i, s -> ContextSnapshot.fromJson(spec, s, i) }
            val dropped = Math.max(0, snaps.size - spec.contextMaxSteps)
            return TastingRecord(n.first, m, snaps.subList(dropped, snaps.size).toList(), n.second, dropped)
        }

        /** The notes to keep and the length they were cut from (null when not cut). */
        private fun validateNotes(spec: RecordSpec, notes: Any?): Pair<String, Int?> {
            val text = notes ?: ""
            if (text !is String) {
                throw InvalidTypeException("notes", "expected a string, got ${typeName(text)}", spec.notesAllowed, text)
            }
            val n = Text.length(text)
            if (n > spec.notesRejectChars) {
                throw OutOfRangeException("notes", "text of $n characters is too long", spec.notesAllowed,
                                          "<$n characters>")
            }
            checkUnicode(text, spec)
            return if (n > spec.notesMaxChars) Text.prefix(text, spec.notesMaxChars) to n else text to null
        }

        /** Python `_check_unicode`: a lone surrogate cannot be stored or sent as UTF-8, so notes with one are refused. */
        private fun checkUnicode(text: String, spec: RecordSpec) {
            var i = 0
            var cp = 0
            while (i < text.length) {
                val c = text[i]
                val paired = Character.isHighSurrogate(c) && i + 1 < text.length && Character.isLowSurrogate(text[i + 1])
                if (Character.isSurrogate(c) && !paired) {
                    throw InvalidTypeException("notes", "not Unicode text: a lone surrogate U+%04X at character %d"
                                                   .format(c.toInt(), cp), spec.notesAllowed)
                }
                i += if (paired) 2 else 1
                cp++
            }
        }

        private fun validateMetrics(spec: RecordSpec, metrics: Any): Map<String, Double> {
            if (metrics !is Map<*, *>) {
                throw InvalidTypeException("metrics", "expected an object, got ${typeName(metrics)}",
                                           "an object keyed by metric name", metrics)
            }
            val valid = HashMap<String, Double>()
            for ((key, v) in metrics) {
                val name = key.toString()
                val ms = spec.metric(name) ?: throw UnknownFieldException(
                    "metrics.$name", "unknown metric", "one of " + spec.metricNames.joinToString(", "), name)
                if (v != null) valid[name] = checkNumber("metrics.$name", v, ms.min, ms.max, ms.allowed, false)
            }
            val out = LinkedHashMap<String, Double>()
            for (ms in spec.metrics) valid[ms.name]?.let { out[ms.name] = it }  // spec order
            return out
        }
    }
}

/** The Python type name of a parsed JSON value, as the Python SDK's messages give it. */
internal fun typeName(v: Any?): String = when (v) {
    null -> "NoneType"
    is String -> "str"
    is Boolean -> "bool"
    is Map<*, *> -> "dict"
    is List<*> -> "list"
    is java.math.BigInteger -> "int"
    is Double, is Float -> "float"
    is Number -> "int"
    else -> v.javaClass.simpleName
}

/** Python `_check_number`: a finite real (not a Boolean) in [lo, hi]; an integer when [integer]. */
internal fun checkNumber(path: String, value: Any, lo: Double, hi: Double, allowed: String, integer: Boolean): Double {
    if (value is Boolean || value !is Number) {
        throw InvalidTypeException(path, "expected ${if (integer) "an integer" else "a number"}, got ${typeName(value)}",
                                   allowed, value)
    }
    // an integer beyond the double range (Json's python mode reads it as a BigInteger) is out of range, not infinite
    if (value is java.math.BigInteger && value.toDouble().isInfinite()) {
        throw OutOfRangeException(path, "value is out of range", allowed, null)
    }
    val x = value.toDouble()
    val v = pyRepr(value)
    if (x.isNaN() || x.isInfinite()) throw NonFiniteValueException(path, "value $v is not finite", allowed, value)
    if (integer && x != Math.rint(x)) throw InvalidTypeException(path, "expected an integer, got $v", allowed, value)
    if (!(lo <= x && x <= hi)) throw OutOfRangeException(path, "value $v is out of range", allowed, value)
    return x
}

/**
 * A number as Python's `repr` writes it in the SDK's messages: integers as digits (`12`), floats as Python does
 * (`12.0`, `7.5`, `nan`, `inf`, `1e-05`, `1e+300`: scientific below 1e-4 and from 1e16 on).
 */
internal fun pyRepr(value: Any?): String {
    val x = (value as? Double) ?: (value as? Float)?.toDouble() ?: return value.toString()
    if (x.isNaN()) return "nan"
    if (x.isInfinite()) return if (x > 0) "inf" else "-inf"
    if (x == Math.rint(x) && Math.abs(x) < 1e16) return x.toLong().toString() + ".0"
    val bd = java.math.BigDecimal(x.toString()).stripTrailingZeros()
    val digits = bd.unscaledValue().abs().toString()
    val exp = digits.length - 1 - bd.scale()
    if (exp in -4..15) return bd.toPlainString()
    val mantissa = if (digits.length == 1) digits else digits[0] + "." + digits.substring(1)
    return (if (x < 0) "-" else "") + mantissa + "e" + (if (exp < 0) "-" else "+") + "%02d".format(Math.abs(exp))
}

/** Python `validate_context_value`: the normalized value of one context field. */
internal fun validateContextValue(f: ContextFieldSpec, value: Any?, path: String): Any {
    if (f.kind == "categorical") {
        if (value !is String) throw InvalidTypeException(path, "expected a string, got ${typeName(value)}", f.allowed, value)
        val v = Text.lower(Text.strip(value))
        if (v !in f.categories) throw UnknownCategoryException(path, "unknown category '$value'", f.allowed, value)
        return v
    }
    val x = checkNumber(path, value!!, f.min!!, f.max!!, f.allowed, f.type == "int")
    return if (f.type == "int") x.toInt() else x
}
