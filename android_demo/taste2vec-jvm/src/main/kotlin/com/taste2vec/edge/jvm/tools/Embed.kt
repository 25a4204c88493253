@file:JvmName("Embed")

package com.taste2vec.edge.jvm.tools

import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.jvm.LiteRtJvmEngine
import com.taste2vec.edge.jvm.LiteRtJvmOptions
import com.taste2vec.edge.jvm.RecordLines
import java.io.File
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.io.InputStream

private const val USAGE = """
    kotlin-embed: JSON lines of tasting records -> one JSON result per line on stdout, through the Kotlin library
    (validation, preprocessing) and LiteRT's own runtime (libLiteRt.so via JNA). The same format as the Python
    SDK's `taste2vec embed --jsonl`, so the two outputs can be diffed line by line.

    usage: java -cp ... com.taste2vec.edge.jvm.tools.Embed [options] [FILE]     (make kotlin-embed IN=FILE)

      FILE                  JSON-lines file of records; '-' or none: stdin
      --bundle PATH         bundle folder or .zip (default: sdk/taste2vec/models/DEFAULT of this checkout)
      --trusted-key PEM     public key the bundle must be signed by (repeatable)
      --allow-unsigned      accept an unsigned --bundle (development; a broken signature is refused regardless)
      --threads N           LiteRT CPU threads (default 1)
      --litert PATH         libLiteRt.so to use (default: -Dtaste2vec.litert.library, ${'$'}TASTE2VEC_LITERT_LIBRARY,
                            then the installed ai-edge-litert Python package)

    Output per line: {"embedding": [128 floats], "model_version": ..., "bucket": ...}, or for a bad line
    {"error": {"type": ..., "field": ..., "message": ...}}. Exit 0 when every line was answered (bad lines
    included), 2 when the bundle, the runtime or the options are unusable. A one-line summary goes to stderr.
"""

fun main(argv: Array<String>): Unit = runTool("kotlin-embed") {
    val args = Args(argv, USAGE, setOf("--allow-unsigned"))
    args.checkKnown(setOf("--bundle", "--trusted-key", "--threads", "--litert"))
    if (args.positional.size > 1) throw UsageException("one input file at most, got ${args.positional}")
    val bundle = args.bundle()
    val options = LiteRtJvmOptions(args.int("--threads", 1, 1), args.get("--litert")?.let { File(it) })
    val t0 = System.nanoTime()
    val counts = open(args.positional.firstOrNull() ?: "-").use { input ->
        BundleEmbedder(bundle, LiteRtJvmEngine.factory(options)).use { RecordLines.run(it, input, System.out) }
    }
    System.err.println("kotlin-embed: ${counts.lines} lines, ${counts.embedded} embedded, ${counts.errors} refused, " +
                       "%.1f s, ${bundle.modelId}".format((System.nanoTime() - t0) / 1e9))
    0
}

private fun open(path: String): InputStream = if (path == "-") System.`in` else try {
    FileInputStream(path)
} catch (e: FileNotFoundException) {
    throw UsageException("$path: cannot read (${e.message})")
}
