package com.taste2vec.edge.core

import java.io.File

/**
 * Where the tests find their inputs: system properties set by `make jvm-test` (android_demo/jvm-test.sh), with
 * defaults relative to the repository root for running from an IDE.
 */
object Fixtures {
    private fun prop(name: String, default: String): File = File(System.getProperty(name) ?: default)

    /** The shipped model bundle (read exactly as the app reads it from its assets). */
    val bundleDir: File get() = prop("taste2vec.bundle", "../../sdk/taste2vec/models/DEFAULT")

    /** Goldens written by the Python SDK (`taste2vec golden --port-dir`), fresh on every `make test`. */
    val goldenDir: File get() = prop("taste2vec.golden", "../../build/golden")

    /** A copy of the shipped bundle signed with a fresh test key (`test.pub.pem` beside it; `other.pub.pem` is a
     *  key that did not sign it), made by jvm-test.sh with the Python toolkit. */
    val signedDir: File get() = File(prop("taste2vec.golden", "../../build/golden"), "signed/bundle")

    /** The demo catalog the profile golden was computed on. */
    val catalogFile: File get() = prop("taste2vec.catalog", "../../sdk/taste2vec/assets/demo_catalog.json")

    val bundle: ModelBundle by lazy {
        val d = bundleDir.canonicalFile
        // sdk/taste2vec/models/DEFAULT is a text file naming the default bundle folder
        ModelBundle.load(if (d.isFile) File(d.parentFile, d.readText().trim()) else d, BundleTrust.PACKAGED)
    }

    fun golden(name: String): Map<String, Any?> = Json.parse(File(goldenDir, name).readText()).obj(name)
}

internal fun List<Any?>.floats(): FloatArray = FloatArray(size) { (this[it] as Double).toFloat() }
internal fun List<Any?>.doubles(): DoubleArray = DoubleArray(size) { this[it] as Double }
internal fun List<Any?>.ints(): IntArray = IntArray(size) { (this[it] as Double).toInt() }

/** Collects mismatches so one run reports all of them (first few in full), then fails once. */
class Mismatches(private val what: String) {
    private val found = ArrayList<String>()
    var checked = 0

    fun check(ok: Boolean, message: () -> String) {
        checked++
        if (!ok) found.add(message())
    }

    fun assertNone() {
        if (found.isNotEmpty()) {
            throw AssertionError("$what: ${found.size} of $checked checks differ from the Python SDK; first ones:\n  " +
                                 found.take(12).joinToString("\n  "))
        }
    }
}
