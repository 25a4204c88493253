package com.taste2vec.edge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

/**
 * Signed bundles: a copy of the shipped bundle signed by the Python toolkit with a fresh key (jvm-test.sh), verified
 * here with java.security's Ed25519, exactly as the Python SDK verifies it.
 */
class SignatureTest {
    private val dir = Fixtures.signedDir
    private val pub = File(dir.parentFile, "test.pub.pem").readText()
    private val other = File(dir.parentFile, "other.pub.pem").readText()

    private fun files(): MutableMap<String, ByteArray> =
        dir.listFiles()!!.filter { it.isFile }.associate { it.name to it.readBytes() }.toMutableMap()

    private fun refused(files: Map<String, ByteArray>, trust: BundleTrust, expect: String) {
        try {
            ModelBundle.load("signed", trust) { files[it] }
            fail("bundle accepted, expected: $expect")
        } catch (e: BundleSignatureException) {
            assertTrue("'${e.message}' should mention '$expect'", e.message!!.contains(expect))
        }
    }

    @Test
    fun aBundleSignedByATrustedKeyLoads() {
        val b = ModelBundle.load(dir, BundleTrust.keys(other, pub))
        assertTrue(b.trustedAs, b.trustedAs.startsWith("signed by "))
        assertEquals(Fixtures.bundle.modelId, b.modelId)
    }

    @Test
    fun unsignedUntrustedOrChangedBundlesAreRefused() {
        refused(files().apply { remove("manifest.sig") }, BundleTrust.keys(pub), "not signed")
        refused(files(), BundleTrust.keys(other), "not trusted")
        val m = files()
        m["manifest.json"] = m.getValue("manifest.json") + " ".toByteArray()  // one byte more than was signed
        refused(m, BundleTrust.keys(pub), "does not verify")
        val sig = files()
        sig["manifest.sig"] = String(sig.getValue("manifest.sig")).replace("\"signature\": \"", "\"signature\": \"AA")
            .toByteArray()
        refused(sig, BundleTrust.keys(pub), "signature")
    }

    @Test
    fun developmentTrustStillRefusesABrokenSignature() {
        assertTrue(ModelBundle.load("signed", BundleTrust.DEVELOPMENT) { files()[it] }.trustedAs.contains("allowed"))
        val m = files()
        m["manifest.json"] = m.getValue("manifest.json") + " ".toByteArray()
        // an unknown key is allowed in development, but with the right key a changed manifest never is
        refused(m, BundleTrust.keys(pub), "does not verify")
    }

    @Test
    fun anOlderBundleThanTheOneInUseIsRefusedBeforeAnythingIsRead() {
        val version = Fixtures.bundle.version
        val newer = Versions.key(version).let { "${it[0]}.${it[1]}.${it[2] + 1}" }
        try {
            ModelBundle.load(dir, BundleTrust.keys(pub).notOlderThan(newer))
            fail("a bundle older than $newer loaded")
        } catch (e: DowngradeException) {
            assertEquals("DowngradeError", e.errorType)
            assertTrue(e.message!!, e.message!!.contains("$version is older than $newer"))
        }
        assertEquals(version, ModelBundle.load(dir, BundleTrust.keys(pub).notOlderThan(version)).version)  // reinstall
        assertEquals(version, ModelBundle.load(dir, BundleTrust.keys(pub).notOlderThan("$version-rc1")).version)
        assertEquals(version, ModelBundle.load(dir, BundleTrust.keys(pub)).version)  // no floor: a deliberate downgrade
    }

    @Test
    fun versionsOrderAsInPython() {
        val ordered = listOf("0.9.9", "1.2.0-rc1", "1.2.0", "1.2.1", "1.10.0", "2.0.0-alpha", "2.0.0+build.7")
        assertEquals(ordered, ordered.shuffled(java.util.Random(3)).sortedWith(Comparator { a, b -> Versions.compare(a, b) }))
        assertEquals(0, Versions.compare("1.2.0+meta", "1.2.0"))
        for (bad in listOf("1.2", "v1.2.0", "", "1.2.0.0")) {
            try {
                Versions.key(bad)
                fail("accepted version '$bad'")
            } catch (e: BundleException) {
                assertTrue(e.message!!.contains("not a semantic version"))
            }
        }
    }
}
