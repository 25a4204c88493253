@file:JvmName("Bench")

package com.taste2vec.edge.jvm.tools

import com.taste2vec.edge.core.BundleEmbedder
import com.taste2vec.edge.core.Json
import com.taste2vec.edge.core.TastingRecord
import com.taste2vec.edge.jvm.LiteRtJvmEngine
import com.taste2vec.edge.jvm.LiteRtJvmOptions
import com.taste2vec.edge.jvm.LiteRtLibrary
import java.io.File

private const val USAGE = """
    kotlin-bench: latency of the Kotlin library on LiteRT's runtime (JNA), in the shape of the Python SDK's
    taste2vec-bench result, so make bench-kotlin can print the two side by side.

    usage: java -cp ... com.taste2vec.edge.jvm.tools.Bench --record FILE [options]

      --record FILE         one record as JSON ('-': stdin)
      --stage STAGE         embed (validation + preprocessing + inference + normalization, what an app calls),
                            invoke (the engine alone on prepared inputs) or preprocess (default embed)
      --runs N              measured calls (default 1000; p99 needs >= 1000)
      --warmup N            unmeasured calls first, for the JIT and the runtime (default 200)
      --bundle PATH, --trusted-key PEM, --allow-unsigned, --threads N, --litert PATH   as for kotlin-embed

    Prints one JSON object: load_ms, first_ms, latency_ms {mean, std, min, max, p50, p90, p99}, peak_rss_mb.
"""

fun main(argv: Array<String>): Unit = runTool("kotlin-bench") {
    val args = Args(argv, USAGE, setOf("--allow-unsigned"))
    args.checkKnown(setOf("--record", "--stage", "--runs", "--warmup", "--bundle", "--trusted-key", "--threads", "--litert"))
    val stage = args.get("--stage") ?: "embed"
    if (stage !in setOf("embed", "invoke", "preprocess")) throw UsageException("--stage: embed, invoke or preprocess")
    val recordPath = args.get("--record") ?: throw UsageException("--record FILE is required")
    val text = if (recordPath == "-") System.`in`.readBytes().toString(Charsets.UTF_8) else File(recordPath).readText()
    val runs = args.int("--runs", 1000, 2)
    val warmup = args.int("--warmup", 200, 0)
    val options = LiteRtJvmOptions(args.int("--threads", 1, 1), args.get("--litert")?.let { File(it) })
    val t0 = System.nanoTime()
    val bundle = args.bundle()
    val embedder = BundleEmbedder(bundle, LiteRtJvmEngine.factory(options))
    val record = TastingRecord.fromJson(bundle.spec, Json.parse(text, true))
    val inputs = bundle.preprocessor()(record)
    embedder.run(inputs)  // creates this thread's engine: part of loading, as in the Python SDK
    val loadMs = (System.nanoTime() - t0) / 1e6
    val call: () -> Any = when (stage) {
        "embed" -> { { embedder.embed(record) } }
        "invoke" -> { { embedder.run(inputs) } }
        else -> { { bundle.preprocessor()(record) } }
    }
    val t1 = System.nanoTime()
    call()
    val firstMs = (System.nanoTime() - t1) / 1e6
    repeat(warmup) { call() }
    val samples = DoubleArray(runs) {
        val s = System.nanoTime()
        call()
        (System.nanoTime() - s) / 1e6
    }
    embedder.close()
    println(Json.write(linkedMapOf(
        "model_version" to bundle.modelId, "runtime" to "LiteRT C API via JNA (${LiteRtLibrary.load().path})",
        "machine" to System.getProperty("os.arch"), "java" to System.getProperty("java.version"),
        "num_threads" to options.numThreads, "stage" to stage, "bucket" to inputs.bucket, "runs" to runs,
        "warmup" to warmup, "load_ms" to loadMs, "first_ms" to firstMs, "latency_ms" to summarize(samples),
        "peak_rss_mb" to peakRssMb())))
    0
}

/** mean / std (n - 1) / min / max / p50 / p90 / p99 in ms; percentiles interpolated as numpy's default does. */
internal fun summarize(samples: DoubleArray): Map<String, Double> {
    val a = samples.sortedArray()
    val mean = a.average()
    val std = if (a.size > 1) Math.sqrt(a.sumByDouble { (it - mean) * (it - mean) } / (a.size - 1)) else 0.0
    fun pct(p: Double): Double {
        val rank = p / 100.0 * (a.size - 1)
        val lo = Math.floor(rank).toInt()
        val hi = Math.ceil(rank).toInt()
        return a[lo] + (a[hi] - a[lo]) * (rank - lo)
    }
    return linkedMapOf("mean" to mean, "std" to std, "min" to a.first(), "max" to a.last(), "p50" to pct(50.0),
                       "p90" to pct(90.0), "p99" to pct(99.0))
}

/** Peak resident memory of this process (VmHWM), MB; 0 where /proc is not there. */
private fun peakRssMb(): Double = try {
    File("/proc/self/status").readLines().first { it.startsWith("VmHWM:") }
        .split(Regex("\\s+"))[1].toDouble() / 1024.0
} catch (e: Exception) {
    0.0
}
