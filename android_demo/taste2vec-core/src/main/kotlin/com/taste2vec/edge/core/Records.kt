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
        /** Validates a snapshot (errors name `context[index].field`). Nulls mean "not recorded". */
        @JvmStatic
        @JvmOverloads
        fun create(spec: RecordSpec, fields: Map<String, Any?>, index: Int = 0): ContextSnapshot {
            val path = "context[$index]"
            val out = LinkedHashMap<String, Any>()
            for (f in spec.contextFields) {
                // spec order, so two equal snapshots serialize the same way
                if (fields.containsKey(f.name) && fields[f.name] != null) {
                    out[f.name] = validateContextValue(f, fields[f.name], "$path.${f.name}")
                }
            }
            for (k in fields.keys) {
                if (spec.contextField(k) == null) {
                    throw UnknownFieldException("$path.$k", "unknown context field",
                                                "one of " + spec.contextFields.joinToString(", ") { it.name }, k)
                }
            }
            return ContextSnapshot(out)
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
                   context: List<Map<String, Any?>> = emptyList()): TastingRecord {
            var text = notes ?: ""
            val n = Text.length(text)
            if (n > spec.notesRejectChars) {
                throw OutOfRangeException("notes", "text of $n characters is too long",
                                          "text of at most ${spec.notesRejectChars} characters; the model reads the " +
                                          "first ${spec.notesMaxChars}", "<$n characters>")
            }
            var truncatedFrom: Int? = null
            if (n > spec.notesMaxChars) {
                truncatedFrom = n
                text = Text.prefix(text, spec.notesMaxChars)
            }
            val clean = LinkedHashMap<String, Double>()
            for (k in metrics.keys) {
                if (spec.metric(k) == null) {
                    throw UnknownFieldException("metrics.$k", "unknown metric", "one of " +
                                                spec.metricNames.joinToString(", "), k)
                }
            }
            for (m in spec.metrics) {  // spec order
                val v = metrics[m.name] ?: continue
                clean[m.name] = checkNumber("metrics.${m.name}", v, m.min, m.max, m.allowed, false)
            }
            val snaps = context.mapIndexed { i, s -> ContextSnapshot.create(spec, s, i) }
            val dropped = Math.max(0, snaps.size - spec.contextMaxSteps)
            return TastingRecord(text, clean, snaps.subList(dropped, snaps.size).toList(), truncatedFrom, dropped)
        }

        /** A record from parsed JSON (`{"notes": ..., "metrics": {...}, "context": [...]}`). */
        @JvmStatic
        fun fromJson(spec: RecordSpec, data: Any?): TastingRecord {
            val d = data as? Map<*, *> ?: throw InvalidTypeException("record", "expected an object",
                                                                     "an object with keys notes, metrics, context", data)
            for (k in d.keys) {
                if (k != "notes" && k != "metrics" && k != "context") {
                    throw UnknownFieldException(k.toString(), "unknown record field", "notes, metrics, context", k)
                }
            }
            val notes = d["notes"]
            if (notes != null && notes !is String) {
                throw InvalidTypeException("notes", "expected a string, got ${typeName(notes)}",
                                           "text of at most ${spec.notesMaxChars} characters", notes)
            }
            val metrics = d["metrics"] ?: emptyMap<String, Any?>()
            if (metrics !is Map<*, *>) {
                throw InvalidTypeException("metrics", "expected an object, got ${typeName(metrics)}",
                                           "an object keyed by metric name", metrics)
            }
            val context = d["context"] ?: emptyList<Any?>()
            if (context !is List<*>) {
                throw InvalidTypeException("context", "expected a list of snapshots, got ${typeName(context)}",
                                           "a list of at most ${spec.contextMaxSteps} snapshots, newest last", context)
            }
            val snaps = context.mapIndexed { i, s ->
                s as? Map<*, *> ?: throw InvalidTypeException("context[$i]", "expected an object, got ${typeName(s)}",
                                                              "an object with fields " +
                                                              spec.contextFields.joinToString(", ") { it.name }, s)
                s.entries.associate { it.key.toString() to it.value }
            }
            return create(spec, notes as String?, metrics.entries.associate { it.key.toString() to it.value }, snaps)
        }
    }
}

internal fun typeName(v: Any?): String = when (v) {
    null -> "null"
    is String -> "str"
    is Boolean -> "bool"
    is Map<*, *> -> "dict"
    is List<*> -> "list"
    is Number -> "number"
    else -> v.javaClass.simpleName
}

/** Python `_check_number`: a finite real (not a Boolean) in [lo, hi]; an integer when [integer]. */
internal fun checkNumber(path: String, value: Any, lo: Double, hi: Double, allowed: String, integer: Boolean): Double {
    if (value is Boolean || value !is Number) {
        throw InvalidTypeException(path, "expected ${if (integer) "an integer" else "a number"}, got ${typeName(value)}",
                                   allowed, value)
    }
    val x = value.toDouble()
    if (x.isNaN() || x.isInfinite()) throw NonFiniteValueException(path, "value $value is not finite", allowed, value)
    if (integer && x != Math.rint(x)) throw InvalidTypeException(path, "expected an integer, got $value", allowed, value)
    if (!(lo <= x && x <= hi)) throw OutOfRangeException(path, "value $value is out of range", allowed, value)
    return x
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
