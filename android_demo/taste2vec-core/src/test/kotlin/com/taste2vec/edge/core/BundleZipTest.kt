package com.taste2vec.edge.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.ByteArrayOutputStream
import java.io.File
import java.util.zip.ZipEntry
import java.util.zip.ZipOutputStream

/**
 * A bundle from a `.zip` file or its bytes (a download after a rollout assignment): the zip the Python SDK packs
 * (`pack_bundle`, files under `<name>-<version>/`, signed) loads and verifies; flat zips load; tampered, unsigned,
 * untrusted, escaping or oversized archives are refused with a [BundleException] that says why.
 */
class BundleZipTest {
    private val signedZip = File(Fixtures.signedDir.parentFile, "bundle.zip")
    private val pub = File(Fixtures.signedDir.parentFile, "test.pub.pem").readText()
    private val other = File(Fixtures.signedDir.parentFile, "other.pub.pem").readText()

    private fun zip(files: Map<String, ByteArray>): ByteArray {
        val buf = ByteArrayOutputStream()
        ZipOutputStream(buf).use { z ->
            for ((name, data) in files) {
                z.putNextEntry(ZipEntry(name))
                z.write(data)
                z.closeEntry()
            }
        }
        return buf.toByteArray()
    }

    private fun folderFiles(dir: File): Map<String, ByteArray> =
        dir.listFiles()!!.filter { it.isFile }.sortedBy { it.name }.associate { it.name to it.readBytes() }

    private fun refused(data: ByteArray, trust: BundleTrust, expect: String) {
        try {
            ModelBundle.fromBytes(data, trust, "test.zip")
            fail("bundle accepted, expected: $expect")
        } catch (e: BundleException) {
            assertTrue("'${e.message}' should mention '$expect'", e.message!!.contains(expect))
        }
    }

    @Test
    fun thePythonPackedSignedZipLoadsFromAFileAndFromBytes() {
        val fromFile = ModelBundle.load(signedZip, BundleTrust.keys(pub))
        val fromBytes = ModelBundle.fromBytes(signedZip.readBytes(), BundleTrust.keys(other, pub))
        for (b in listOf(fromFile, fromBytes)) {
            assertEquals(Fixtures.bundle.modelId, b.modelId)
            assertTrue(b.trustedAs, b.trustedAs.startsWith("signed by "))
            assertArrayEquals(Fixtures.bundle.modelBytes(), b.modelBytes())
        }
        refused(signedZip.readBytes(), BundleTrust.keys(other), "not trusted")
    }

    @Test
    fun aFlatZipAndAZipUnderOneTopFolderBothLoad() {
        val files = folderFiles(Fixtures.bundle.let { File(Fixtures.bundleDir.canonicalFile.let { d ->
            if (d.isFile) File(d.parentFile, d.readText().trim()) else d }.path) })
        val flat = ModelBundle.fromBytes(zip(files), BundleTrust.DEVELOPMENT)
        val nested = ModelBundle.fromBytes(zip(files.mapKeys { "taste2vec-edge-x/${it.key}" }), BundleTrust.DEVELOPMENT)
        assertEquals(Fixtures.bundle.modelId, flat.modelId)
        assertArrayEquals(flat.modelBytes(), nested.modelBytes())
    }

    @Test
    fun tamperedOrMalformedArchivesAreRefused() {
        val files = folderFiles(Fixtures.signedDir)
        val flipped = files.toMutableMap()
        flipped["model.tflite"] = files.getValue("model.tflite").copyOf().also { it[1000] = (it[1000] + 1).toByte() }
        refused(zip(flipped), BundleTrust.keys(pub), "sha256 does not match")
        refused(zip(files - "manifest.sig"), BundleTrust.keys(pub), "not signed")
        refused(zip(files - "tokenizer.json"), BundleTrust.keys(pub), "tokenizer.json: listed in the manifest but missing")
        refused(zip(files + ("../evil.sh" to ByteArray(3))), BundleTrust.keys(pub), "is not a plain bundle file")
        refused(zip(files.mapKeys { "a/${it.key}" } + ("b/x" to ByteArray(1))), BundleTrust.keys(pub), "not a plain bundle file")
        refused(zip((1..70).associate { "f$it.txt" to ByteArray(1) }), BundleTrust.DEVELOPMENT, "more than 64 archive members")
        refused("not a zip at all".toByteArray(), BundleTrust.DEVELOPMENT, "test.zip")
        refused(ByteArray(0), BundleTrust.DEVELOPMENT, "test.zip")
        // a manifest that lists a file as larger than the limit is refused before anything is read
        val m = String(files.getValue("manifest.json"), Charsets.UTF_8)
            .replaceFirst(Regex("\"size\": \\d+"), "\"size\": 999999999999")
        refused(zip(files + ("manifest.json" to m.toByteArray())), BundleTrust.DEVELOPMENT, "must be an integer in [0,")
    }

    @Test
    fun aFolderReadsOnlyWhatTheManifestListsAndAMissingPathIsClear() {
        try {
            ModelBundle.load(File("/nonexistent/bundle.zip"), BundleTrust.DEVELOPMENT)
            fail("loaded a missing file")
        } catch (e: BundleException) {
            assertTrue(e.message, e.message!!.contains("/nonexistent/bundle.zip"))
        }
    }

    @Test
    fun aZipWhoseMembersAllSitInAnUnplainFolderIsRefused() {
        val files = folderFiles(Fixtures.signedDir)
        for (top in listOf("..", "", "C:", ".hidden", "a\\b", "x".repeat(101))) {
            refused(zip(files.mapKeys { "$top/${it.key}" }), BundleTrust.keys(pub), "is not a plain name")
        }
        val ok = ModelBundle.fromBytes(zip(files.mapKeys { "taste2vec-edge-x/${it.key}" }), BundleTrust.keys(pub))
        assertEquals(Fixtures.bundle.modelId, ok.modelId)
    }
}
