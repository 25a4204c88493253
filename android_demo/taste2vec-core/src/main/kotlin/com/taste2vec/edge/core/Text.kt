package com.taste2vec.edge.core

import java.text.Normalizer
import java.util.Locale

/**
 * Text helpers that behave exactly like the Python SDK's: Unicode NFKC then lower-case, Python's whitespace
 * set, and code-point (not UTF-16) lengths.
 */
object Text {
    /** NFKC + lower-case: the one normalization every component applies to notes (`normalize_text`). */
    @JvmStatic
    fun normalize(text: String): String = lower(Normalizer.normalize(text, Normalizer.Form.NFKC))

    /** Full Unicode lower-casing, locale-independent (Python `str.lower`). */
    @JvmStatic
    @Suppress("PLATFORM_CLASS_MAPPED_TO_KOTLIN")
    fun lower(s: String): String = (s as java.lang.String).toLowerCase(Locale.ROOT)

    /** Python's `str.isspace` for one code point (Java's `isWhitespace` differs, e.g. on U+00A0 and U+0085). */
    @JvmStatic
    fun isSpace(cp: Int): Boolean = when (cp) {
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
        0x2028, 0x2029, 0x202F, 0x205F, 0x3000 -> true
        else -> cp in 0x2000..0x200A
    }

    /** Python's `str.strip()` (its whitespace set). */
    @JvmStatic
    fun strip(s: String): String {
        var a = 0
        var b = s.length
        while (a < b && isSpace(s.codePointAt(a))) a += Character.charCount(s.codePointAt(a))
        while (b > a && isSpace(s.codePointBefore(b))) b -= Character.charCount(s.codePointBefore(b))
        return s.substring(a, b)
    }

    /** Length in code points (Python `len`). */
    @JvmStatic
    fun length(s: String): Int = s.codePointCount(0, s.length)

    /** The first [n] code points (Python `s[:n]`). */
    @JvmStatic
    fun prefix(s: String, n: Int): String = if (length(s) <= n) s else s.substring(0, s.offsetByCodePoints(0, n))

    /** The code points of [s]. */
    @JvmStatic
    fun codePoints(s: String): IntArray {
        val out = IntArray(length(s))
        var i = 0
        var k = 0
        while (i < s.length) {
            val cp = s.codePointAt(i)
            out[k++] = cp
            i += Character.charCount(cp)
        }
        return out
    }

    /** Hangul syllable or jamo (U+1100..U+11FF, U+3130..U+318F, U+AC00..U+D7A3). */
    @JvmStatic
    fun isHangul(cp: Int): Boolean = cp in 0x1100..0x11FF || cp in 0x3130..0x318F || cp in 0xAC00..0xD7A3

    /** Latin word character of the tokenizers: a-z, 0-9, U+00C0..U+024F. */
    @JvmStatic
    fun isLatin(cp: Int): Boolean = cp in 0x61..0x7A || cp in 0x30..0x39 || cp in 0xC0..0x24F
}
