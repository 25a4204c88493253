package com.taste2vec.edge.core

/**
 * A small strict JSON reader and writer, so this module has no dependencies (bundle files, profiles, goldens).
 *
 * Values map to Kotlin as: object -> `Map<String, Any?>` (insertion order kept), array -> `List<Any?>`,
 * string -> `String`, number -> `Double` (every JSON number; integers up to 2^53 are exact), `true`/`false` ->
 * `Boolean`, `null` -> `null`.
 */
object Json {
    /** Parses one JSON document; throws [JsonException] with the offset on malformed input. */
    @JvmStatic
    fun parse(text: String): Any? {
        val p = Parser(text)
        p.skipWs()
        val v = p.value()
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
                else -> if (c < ' ') sb.append(String.format("\\u%04x", s.codePointAt(i))) else sb.append(c)
            }
        }
        sb.append('"')
    }

    private class Parser(val s: String) {
        var pos = 0

        fun skipWs() {
            while (pos < s.length && (s[pos] == ' ' || s[pos] == '\n' || s[pos] == '\r' || s[pos] == '\t')) pos++
        }

        fun value(): Any? {
            if (pos >= s.length) throw JsonException("unexpected end of input")
            return when (s[pos]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> num()
            }
        }

        private fun literal(word: String, v: Any?): Any? {
            if (!s.startsWith(word, pos)) throw JsonException("unexpected character at offset $pos")
            pos += word.length
            return v
        }

        private fun obj(): Map<String, Any?> {
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
                out[k] = value()
                skipWs()
                when (peek()) {
                    ',' -> pos++
                    '}' -> { pos++; return out }
                    else -> throw JsonException("expected ',' or '}' at offset $pos")
                }
            }
        }

        private fun arr(): List<Any?> {
            val out = ArrayList<Any?>()
            pos++
            skipWs()
            if (peek() == ']') { pos++; return out }
            while (true) {
                skipWs()
                out.add(value())
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
                    c == '\\' -> {
                        if (pos >= s.length) throw JsonException("unterminated escape")
                        when (val e = s[pos++]) {
                            '"' -> sb.append('"'); '\\' -> sb.append('\\'); '/' -> sb.append('/')
                            'b' -> sb.append('\b'); 'f' -> sb.append('\u000C'); 'n' -> sb.append('\n')
                            'r' -> sb.append('\r'); 't' -> sb.append('\t')
                            'u' -> {
                                if (pos + 4 > s.length) throw JsonException("bad \\u escape at offset $pos")
                                sb.append(s.substring(pos, pos + 4).toInt(16).toChar())
                                pos += 4
                            }
                            else -> throw JsonException("bad escape \\$e at offset $pos")
                        }
                    }
                    c < ' ' -> throw JsonException("control character in string at offset ${pos - 1}")
                    else -> sb.append(c)
                }
            }
        }

        private fun num(): Double {
            val start = pos
            if (peek() == '-') pos++
            while (pos < s.length && (s[pos].isDigit() || s[pos] in ".eE+-")) pos++
            val t = s.substring(start, pos)
            if (t.length == 0 || t == "-") throw JsonException("unexpected character at offset $start")
            return t.toDoubleOrNull() ?: throw JsonException("bad number '$t' at offset $start")
        }

        private fun peek(): Char = if (pos < s.length) s[pos] else '\u0000'

        private fun expect(c: Char) {
            if (peek() != c) throw JsonException("expected '$c' at offset $pos")
            pos++
        }
    }
}

/** Malformed JSON. */
class JsonException(message: String) : Taste2VecException(message)

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
