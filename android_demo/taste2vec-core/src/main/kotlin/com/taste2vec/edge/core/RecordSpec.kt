package com.taste2vec.edge.core

/** One numeric metric of the record spec: name, unit and valid closed range. */
class MetricSpec(val name: String, val unit: String, val min: Double, val max: Double, val transform: String,
                 val group: String, val description: String) {
    val allowed: String get() = rangeText("a finite number", min, max, unit)
}

/** One field of a context snapshot: `cyclic` (int with a period), `categorical` or `numeric`. */
class ContextFieldSpec(val name: String, val kind: String, val type: String, val min: Double?, val max: Double?,
                       val period: Int?, val unit: String, val categories: List<String>, val description: String) {
    /** Columns this field occupies in an encoded snapshot. */
    val width: Int
        get() = when (kind) {
            "cyclic" -> 3
            "categorical" -> categories.size
            else -> 2
        }

    val allowed: String
        get() {
            if (kind == "categorical") return "one of " + categories.joinToString(", ") { "'$it'" }
            return rangeText(if (type == "int") "an integer" else "a finite number", min, max, unit)
        }
}

/**
 * The versioned record spec (`record_spec.json`, format `taste2vec.record` 1.x): the single source of truth for
 * field names, ranges, categories and the context encoding. The same file drives the Python SDK and the model's
 * input signature.
 */
class RecordSpec(val version: String, val notesMaxChars: Int, val notesRejectChars: Int,
                 val metrics: List<MetricSpec>, val contextFields: List<ContextFieldSpec>, val contextMaxSteps: Int) {
    /** What every refusal of notes names as allowed (Python: `RecordSpec.notes_allowed`). */
    val notesAllowed: String get() = "text of at most $notesRejectChars characters; the model reads the first $notesMaxChars"
    val metricNames: List<String> get() = metrics.map { it.name }
    val numMetrics: Int get() = metrics.size
    /** Columns of one encoded context snapshot. */
    val contextWidth: Int get() = contextFields.fold(0) { acc, f -> acc + f.width }

    fun metric(name: String): MetricSpec? = metrics.firstOrNull { it.name == name }
    fun contextField(name: String): ContextFieldSpec? = contextFields.firstOrNull { it.name == name }

    companion object {
        const val SUPPORTED_MAJOR = 1

        /** Parses and validates a spec document (the JSON text of `record_spec.json`). */
        @JvmStatic
        fun parse(text: String): RecordSpec = fromJson(Json.parse(text).obj("record spec"))

        @JvmStatic
        fun fromJson(d: Map<String, Any?>): RecordSpec {
            require(d["spec"] == "taste2vec.record", "not a taste2vec record spec (key 'spec')")
            val version = d["version"].str("version")
            val parts = version.split(".")
            require(parts.size == 3 && parts.all { p -> p.isNotEmpty() && p.all { it in '0'..'9' } },
                    "bad spec version '$version'")
            require(parts[0].toInt() == SUPPORTED_MAJOR,
                    "record spec major version ${parts[0]} is not supported (this module reads $SUPPORTED_MAJOR.x)")
            val notes = d["notes"].obj("notes")
            val maxChars = notes["max_chars"].int("notes.max_chars")
            require(maxChars > 0, "notes.max_chars must be positive")
            val rejectRaw = (notes["reject_over_chars"] as? Double)?.toInt() ?: 0
            val reject = if (rejectRaw == 0) Int.MAX_VALUE else rejectRaw
            require(reject >= maxChars, "notes.reject_over_chars must be >= notes.max_chars")
            val metrics = d["metrics"].list("metrics").map {
                val m = it.obj("metric")
                val ms = MetricSpec(m["name"].str("metric name"), m["unit"].str("unit"), m["min"].num("min"),
                                    m["max"].num("max"), (m["transform"] as? String) ?: "none",
                                    (m["group"] as? String) ?: "", (m["description"] as? String) ?: "")
                require(ms.min < ms.max && !ms.min.isInfinite() && !ms.max.isInfinite(), "bad range for ${ms.name}")
                require(ms.transform == "none" || ms.transform == "log1p", "unknown transform for ${ms.name}")
                ms
            }
            require(metrics.map { it.name }.toSet().size == metrics.size, "duplicate metric names")
            val ctx = d["context"].obj("context")
            val fields = ctx["fields"].list("context.fields").map {
                val f = it.obj("context field")
                val kind = f["kind"].str("kind")
                require(kind == "cyclic" || kind == "categorical" || kind == "numeric", "unknown context kind '$kind'")
                val cats = (f["categories"] as? List<*>)?.map { c -> c.str("category") } ?: emptyList()
                val cf = ContextFieldSpec(f["name"].str("name"), kind, f["type"].str("type"), f["min"] as? Double,
                                          f["max"] as? Double, (f["period"] as? Double)?.toInt(),
                                          (f["unit"] as? String) ?: "", cats, (f["description"] as? String) ?: "")
                if (kind == "categorical") {
                    require(cats.size >= 2 && cats.toSet().size == cats.size, "bad categories for ${cf.name}")
                } else {
                    require(cf.min != null && cf.max != null && cf.min < cf.max, "bad range for ${cf.name}")
                }
                if (kind == "cyclic") require((cf.period ?: 0) > 0, "cyclic field ${cf.name} needs a period")
                cf
            }
            val steps = ctx["max_steps"].int("context.max_steps")
            require(steps > 0, "context.max_steps must be positive")
            return RecordSpec(version, maxChars, reject, metrics, fields, steps)
        }

        private fun require(cond: Boolean, msg: String) {
            if (!cond) throw SpecException(msg)
        }
    }
}

/** Python's `_fmt`: integers without a decimal point. */
internal fun fmt(x: Double?): String = when {
    x == null -> "?"
    x == Math.rint(x) && Math.abs(x) < 1e15 -> x.toLong().toString()
    else -> x.toString()
}

/**
 * What a refusal names as allowed for a numeric field: "a finite number in [0, 100] degC"; a unit that only repeats
 * the range (a "0-10" scale) is left out (Python: `_range_text`).
 */
internal fun rangeText(kind: String, lo: Double?, hi: Double?, unit: String): String {
    val a = fmt(lo)
    val b = fmt(hi)
    return "$kind in [$a, $b]" + if (unit.length == 0 || unit == "$a-$b") "" else " $unit"
}
