package com.taste2vec.edge.core

/**
 * A small strict JSON reader and writer, so this module has no dependencies (bundle files, profiles, goldens).
 *
 * Values map to Kotlin as: object -> `Map<String, Any?>` (insertion order kept; a repeated key keeps its first
 * position and its last value, as Python's `json` does), array -> `List<Any?>`, string -> `String`, number ->
 * `Double` (every JSON number; integers up to 2^53 are exact), `true`/`false` -> `Boolean`, `null` -> `null`.
 * Numbers follow RFC 8259 exactly (no leading zeros, `+`, `.5` or `1.`); nesting deeper than [MAX_DEPTH] and
 * malformed escapes are [JsonException]s, never a stack overflow or another exception type.
 */
object Json {
    /** Arrays and objects nested deeper than this are refused (Python's `json` stops near 1,000 too). */
    const val MAX_DEPTH = 512
    /** Python's limit on the digits of an integer it converts (`sys.int_info.default_max_str_digits`). */
    const val MAX_INT_DIGITS = 4300

    /** Parses one JSON document; throws [JsonException] with the offset on malformed input. */
    @JvmStatic
    fun parse(text: String): Any? = parse(text, false)

    /**
     * Parses one JSON document. [pythonNumbers] reads numbers as Python's `json.loads` does, for documents that
     * came from Python or from users (records): an integer literal is a `Long` (a [java.math.BigInteger] beyond
     * it), a literal with a fraction or exponent a `Double`, and the constants `NaN`, `Infinity` and `-Infinity`
     * are doubles too (record validation refuses them and huge integers, naming the field).
     */
    @JvmStatic
    fun parse(text: String, pythonNumbers: Boolean): Any? {
        val p = Parser(text, pythonNumbers)
        p.skipWs()
        val v = p.value(0)
        p.skipWs()
        if (p.pos != text.length) throw JsonException("trailing characters at offset ${p.pos}")
        return v
    }

    /** Serializes maps, lists, strings, numbers, booleans, null, arrays of floats / doubles / ints. */
    @JvmStatic
    fun write(value: Any?): String = StringBuilder().also { writeTo(it, value) }.toString()

    private fun writeTo(sb: StringBuilder, v: Any?) {
        when (v) {
            null -> sb.append("null")
            is String -> quote(sb, v)
            is Boolean -> sb.append(if (v) "true" else "false")
            is Int, is Long -> sb.append(v.toString())
            is Float -> number(sb, v.toDouble())
            is Double -> number(sb, v)
            is Number -> number(sb, v.toDouble())
            is Map<*, *> -> {
                sb.append('{')
                var first = true
                for ((k, x) in v) {
                    if (!first) sb.append(',')
                    first = false
                    quote(sb, k.toString())
                    sb.append(':')
                    writeTo(sb, x)
                }
                sb.append('}')
            }
            is Iterable<*> -> {
                sb.append('[')
                var first = true
                for (x in v) {
                    if (!first) sb.append(',')
                    first = false
                    writeTo(sb, x)
                }
                sb.append(']')
            }
            is FloatArray -> writeTo(sb, v.asList())
            is DoubleArray -> writeTo(sb, v.asList())
            is IntArray -> writeTo(sb, v.asList())
            else -> throw JsonException("cannot write a ${v.javaClass.name} as JSON")
        }
    }

    private fun number(sb: StringBuilder, d: Double) {
        if (d.isNaN() || d.isInfinite()) throw JsonException("JSON has no NaN or infinity ($d)")
        if (d == Math.rint(d) && Math.abs(d) < 1e15) sb.append(d.toLong()).append(".0") else sb.append(d.toString())
    }

    private fun quote(sb: StringBuilder, s: String) {
        sb.append('"')
        for (i in s.indices) {
            val c = s[i]
            when (c) {
                '"' -> sb.append("\\\"")
                '\\' -> sb.append("\\\\")
                '\n' -> sb.append("\\n")
                '\r' -> sb.append("\\r")
                '\t' -> sb.append("\\t")
                else -> if (c < ' ' || lone(s, i)) sb.append(String.format("\\u%04x", c.toInt())) else sb.append(c)
            }
        }
        sb.append('"')
    }

    /** A surrogate that is not half of a pair: written as an escape, as UTF-8 cannot carry it. */
    private fun lone(s: String, i: Int): Boolean {
        val c = s[i]
        return when {
            Character.isHighSurrogate(c) -> i + 1 >= s.length || !Character.isLowSurrogate(s[i + 1])
            Character.isLowSurrogate(c) -> i == 0 || !Character.isHighSurrogate(s[i - 1])
            else -> false
        }
    }

    private class Parser(val s: String, val pythonNumbers: Boolean) {
        var pos = 0

        fun skipWs() {
            while (pos < s.length && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) pos++
        }

        fun value(depth: Int): Any? {
            if (pos >= s.length) throw JsonException("unexpected end of input")
            return when (s[pos]) {
                '{' -> obj(depth + 1)
                '[' -> arr(depth + 1)
                '"' -> str()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                'N' -> constant("NaN", Double.NaN)
                'I' -> constant("Infinity", Double.POSITIVE_INFINITY)
                else -> if (s.startsWith("-Infinity", pos)) constant("-Infinity", Double.NEGATIVE_INFINITY) else num()
            }
        }

        private fun literal(word: String, v: Any?): Any? {
            if (!s.startsWith(word, pos)) throw JsonException("unexpected character at offset $pos")
            pos += word.length
            return v
        }

        private fun constant(word: String, v: Double): Double {
            if (!pythonNumbers) throw JsonException("$word at offset $pos is not JSON")
            literal(word, v)
            return v
        }

        private fun nested(depth: Int) {
            if (depth > MAX_DEPTH) throw JsonException("nested deeper than $MAX_DEPTH levels at offset $pos")
        }

        private fun obj(depth: Int): Map<String, Any?> {
            nested(depth)
            val out = LinkedHashMap<String, Any?>()
            pos++
            skipWs()
            if (peek() == '}') { pos++; return out }
            while (true) {
                skipWs()
                if (peek() != '"') throw JsonException("expected a key at offset $pos")
                val k = str()
                skipWs()
                expect(':')
                skipWs()
                out[k] = value(depth)
                skipWs()
                when (peek()) {
                    ',' -> pos++
                    '}' -> { pos++; return out }
                    else -> throw JsonException("expected ',' or '}' at offset $pos")
                }
            }
        }

        private fun arr(depth: Int): List<Any?> {
            nested(depth)
            val out = ArrayList<Any?>()
            pos++
            skipWs()
            if (peek() == ']') { pos++; return out }
            while (true) {
                skipWs()
                out.add(value(depth))
                skipWs()
                when (peek()) {
                    ',' -> pos++
                    ']' -> { pos++; return out }
                    else -> throw JsonException("expected ',' or ']' at offset $pos")
                }
            }
        }

        private fun str(): String {
            expect('"')
            val sb = StringBuilder()
            while (true) {
                if (pos >= s.length) throw JsonException("unterminated string")
                val c = s[pos++]
                when {
                    c == '"' -> return sb.toString()
                    c == '\\' -> escape(sb)
                    c < ' ' -> throw JsonException("control character in string at offset ${pos - 1}")
                    else -> sb.append(c)
                }
            }
        }

        private fun escape(sb: StringBuilder) {
            if (pos >= s.length) throw JsonException("unterminated escape")
            when (val e = s[pos++]) {
                '"' -> sb.append('"'); '\\' -> sb.append('\\'); '/' -> sb.append('/')
                'b' -> sb.append('\b'); 'f' -> sb.append('\u000C'); 'n' -> sb.append('\n')
                'r' -> sb.append('\r'); 't' -> sb.append('\t')
                'u' -> {
                    var code = 0
                    for (i in 0 until 4) {
                        val d = if (pos < s.length) Character.digit(s[pos], 16) else -1
                        if (d < 0) throw JsonException("bad \\u escape at offset ${pos - 2 - i}")
                        code = code * 16 + d
                        pos++
                    }
                    sb.append(code.toChar())
                }
                else -> throw JsonException("bad escape \\$e at offset ${pos - 1}")
            }
        }

        /** `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` */
        private fun num(): Any {
            val start = pos
            if (peek() == '-') pos++
            val intStart = pos
            if (peek() == '0') pos++ else if (peek() in '1'..'9') digits() else throw JsonException("unexpected character at offset $start")
            val intDigits = pos - intStart
            var integral = true
            if (peek() == '.') {
                pos++
                if (digits() == 0) throw JsonException("bad number at offset $start")
                integral = false
            }
            if (peek() == 'e' || peek() == 'E') {
                pos++
                if (peek() == '+' || peek() == '-') pos++
                if (digits() == 0) throw JsonException("bad number at offset $start")
                integral = false
            }
            val t = s.substring(start, pos)
            if (integral && intDigits > MAX_INT_DIGITS) throw JsonException("integer of $intDigits digits at offset $start")
            if (integral && pythonNumbers) return t.toLongOrNull() ?: java.math.BigInteger(t)  // Python's int
            return t.toDouble() + (if (integral) 0.0 else -0.0)  // the integer -0 is 0; a float -0.0 stays

        }

        private fun digits(): Int {
            val from = pos
            while (pos < s.length && s[pos] in '0'..'9') pos++
            return pos - from
        }

        private fun peek(): Char = if (pos < s.length) s[pos] else '\u0000'

        private fun expect(c: Char) {
            if (peek() != c) throw JsonException("expected '$c' at offset $pos")
            pos++
        }
    }
}

/** Malformed JSON. */
class JsonException(message: String) : Taste2VecException(message) {
    override val errorType: String get() = "JsonError"
}

// Typed accessors for parsed JSON (throw a clear error instead of a ClassCastException).
internal fun Any?.obj(what: String): Map<String, Any?> {
    @Suppress("UNCHECKED_CAST")
    return this as? Map<String, Any?> ?: throw JsonException("$what: expected an object")
}

internal fun Any?.list(what: String): List<Any?> = this as? List<Any?> ?: throw JsonException("$what: expected a list")
internal fun Any?.str(what: String): String = this as? String ?: throw JsonException("$what: expected a string")
internal fun Any?.num(what: String): Double = (this as? Double) ?: throw JsonException("$what: expected a number")
internal fun Any?.int(what: String): Int {
    val d = num(what)
    if (d != Math.rint(d)) throw JsonException("$what: expected an integer")
    return d.toInt()
}
