package com.taste2vec.edge.jvm

import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.InvalidTypeException
import com.taste2vec.edge.core.Json
import com.taste2vec.edge.core.JsonException
import com.taste2vec.edge.core.RecordValidationException
import com.taste2vec.edge.core.Taste2VecException
import com.taste2vec.edge.core.TastingRecord
import java.io.ByteArrayOutputStream
import java.io.InputStream
import java.io.OutputStream
import java.io.Writer
import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CodingErrorAction

/**
 * JSON lines of tasting records in, one JSON result per line out: the contract of the Python SDK's
 * `taste2vec embed --jsonl` (`taste2vec.lines`), so the two can be diffed line by line.
 *
 * - a record: `{"embedding": [128 floats], "model_version": "...", "bucket": 16}`;
 * - a bad line: `{"error": {"type": "OutOfRangeError", "field": "metrics.acidity", "message": "..."}}` (`type` is
 *   [Taste2VecException.errorType], the Python class name; `field` is `record` when the line is not a JSON object,
 *   null when no field caused the error).
 *
 * Lines are read as Python's `json.loads` reads them ([Json.parse] with Python numbers: `NaN` and huge integers
 * reach validation, which names their field); a line that is not UTF-8, not JSON, nested deeper than
 * [Json.MAX_DEPTH] or longer than [MAX_LINE_BYTES] is an `InvalidTypeError` on `record`. No line stops the run.
 */
object RecordLines {
    /** The longest line read whole; a longer one is skipped to its end and reported. */
    const val MAX_LINE_BYTES = 16 shl 20
    private const val ALLOWED = "one JSON object per line with keys notes, metrics, context"

    /** What [run] did: lines read, records embedded, lines refused. */
    class Counts(val lines: Int, val embedded: Int, val errors: Int)

    /** The output object for one line ([text] null: the line could not be read, for [reason]). */
    @JvmStatic
    fun result(embedder: BundleEmbedder, text: String?, reason: String = ""): Map<String, Any?> = try {
        val value = if (text == null) throw refuse(reason) else parse(text)
        val r = embedder.embed(TastingRecord.fromJson(embedder.bundle.spec, value))
        linkedMapOf("embedding" to r.embedding, "model_version" to r.modelVersion, "bucket" to r.bucket)
    } catch (e: Taste2VecException) {
        error(e)
    }

    /** The output object of an error. */
    @JvmStatic
    fun error(e: Taste2VecException): Map<String, Any?> = mapOf("error" to linkedMapOf(
        "type" to e.errorType, "field" to (e as? RecordValidationException)?.field, "message" to e.message))

    /** Every line of [input] through [embedder], one compact JSON line each to [output], in order. */
    @JvmStatic
    fun run(embedder: BundleEmbedder, input: InputStream, output: OutputStream): Counts {
        val out = output.bufferedWriter(Charsets.UTF_8)
        var lines = 0
        var errors = 0
        forEachLine(input) { text, reason ->
            val r = result(embedder, text, reason)
            lines++
            if ("error" in r) errors++
            out.write(Json.write(r))
            out.write("\n")
            flushWhenIdle(out, input)
        }
        out.flush()
        return Counts(lines, lines - errors, errors)
    }

    /**
     * Calls [action] with each line of [input] (UTF-8, `\r` / `\n` stripped from its end) and "", or with null
     * and the reason for a line longer than [MAX_LINE_BYTES] (skipped to its end, never held whole) or not UTF-8.
     */
    @JvmStatic
    fun forEachLine(input: InputStream, action: (String?, String) -> Unit) {
        val buf = ByteArrayOutputStream()
        var tooLong = false
        val decoder = Charsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
        fun emit() {
            val bytes = buf.toByteArray()
            var n = bytes.size
            while (n > 0 && (bytes[n - 1] == '\n'.toByte() || bytes[n - 1] == '\r'.toByte())) n--
            when {
                tooLong || n > MAX_LINE_BYTES -> action(null, "line longer than $MAX_LINE_BYTES bytes")
                else -> try {
                    action(decoder.decode(ByteBuffer.wrap(bytes, 0, n)).toString(), "")
                } catch (e: CharacterCodingException) {
                    action(null, "not UTF-8 (${e.javaClass.simpleName} in a line of $n bytes)")
                }
            }
            buf.reset()
            tooLong = false
        }
        val chunk = ByteArray(1 shl 16)
        while (true) {
            val n = input.read(chunk)
            if (n < 0) break
            var from = 0
            for (i in 0 until n) {
                if (chunk[i] != '\n'.toByte()) continue
                append(buf, chunk, from, i + 1 - from, tooLong).also { tooLong = it }
                emit()
                from = i + 1
            }
            if (from < n) tooLong = append(buf, chunk, from, n - from, tooLong)
        }
        if (buf.size() > 0 || tooLong) emit()
    }

    /** Appends unless the line is already too long; returns whether it is (then the buffer is dropped). */
    private fun append(buf: ByteArrayOutputStream, chunk: ByteArray, from: Int, len: Int, tooLong: Boolean): Boolean {
        if (tooLong) return true
        if (buf.size() + len > MAX_LINE_BYTES + 2) {  // + 2: room for "\r\n"
            buf.reset()
            return true
        }
        buf.write(chunk, from, len)
        return false
    }

    private fun parse(text: String): Any? = try {
        Json.parse(text, true)
    } catch (e: JsonException) {
        val why = if (e.message!!.startsWith("nested deeper")) "nested deeper than ${Json.MAX_DEPTH} levels"
                  else "not valid JSON (${e.message})"
        throw refuse("a JSON line: $why")
    }

    private fun refuse(message: String) = InvalidTypeException("record", message, ALLOWED)  // as taste2vec.lines words it

    private fun flushWhenIdle(out: Writer, input: InputStream) {
        val idle = try {
            input.available() == 0
        } catch (e: java.io.IOException) {
            true
        }
        if (idle) out.flush()
    }
}
