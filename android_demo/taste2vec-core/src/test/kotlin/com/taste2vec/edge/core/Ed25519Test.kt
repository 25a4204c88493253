package com.taste2vec.edge.core

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import java.security.KeyPairGenerator
import java.security.Signature
import java.util.Random

/**
 * Both Ed25519 providers verify exactly the same signatures: `java.security` (API 33+, Java 15+) and BouncyCastle's
 * lightweight API (Android 8-12), the latter forced here as it would be picked on a phone without the former.
 */
class Ed25519Test {
    @After
    fun pickAgain() {
        Ed25519.forced = null
    }

    private val pub = File(Fixtures.signedDir.parentFile, "test.pub.pem").readText()
    private val other = File(Fixtures.signedDir.parentFile, "other.pub.pem").readText()

    @Test
    fun signedBundlesVerifyWithBouncyCastleAsWithJavaSecurity() {
        for (provider in Ed25519.Provider.values()) {
            Ed25519.forced = provider
            val b = ModelBundle.load(Fixtures.signedDir, BundleTrust.keys(pub))
            assertTrue("$provider: ${b.trustedAs}", b.trustedAs.startsWith("signed by "))
            val zip = ModelBundle.load(File(Fixtures.signedDir.parentFile, "bundle.zip"), BundleTrust.keys(other, pub))
            assertEquals(b.modelId, zip.modelId)
            val files = Fixtures.signedDir.listFiles()!!.filter { it.isFile }.associate { it.name to it.readBytes() }
                .toMutableMap()
            files["manifest.json"] = files.getValue("manifest.json") + " ".toByteArray()
            try {
                ModelBundle.load("changed", BundleTrust.keys(pub)) { files[it] }
                fail("$provider accepted a manifest changed after signing")
            } catch (e: BundleSignatureException) {
                assertTrue(e.message!!, e.message!!.contains("does not verify"))
            }
        }
    }

    @Test
    fun theProvidersAgreeOnRandomMessagesAndBrokenSignatures() {
        val pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
        val raw = pair.public.encoded.copyOfRange(12, 44)
        val rng = Random(7)
        repeat(50) { i ->
            val msg = ByteArray(rng.nextInt(300)).also { rng.nextBytes(it) }
            val sig = Signature.getInstance("Ed25519").run {
                initSign(pair.private)
                update(msg)
                sign()
            }
            val bad = sig.copyOf().also { it[i % 64] = (it[i % 64].toInt() xor 1).toByte() }
            for (p in Ed25519.Provider.values()) {
                Ed25519.forced = p
                assertTrue("$p message $i", Ed25519.verify(raw, msg, sig))
                assertFalse("$p accepted a flipped bit", Ed25519.verify(raw, msg, bad))
                assertFalse("$p accepted another message", Ed25519.verify(raw, msg + 1, sig))
                assertFalse("$p accepted a short signature", Ed25519.verify(raw, msg, sig.copyOf(63)))
            }
        }
    }

    @Test
    fun onlyEd25519PublicKeysAreTrusted() {
        for (pem in listOf("not pem at all!", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
                           java.util.Base64.getEncoder().encodeToString(
                               KeyPairGenerator.getInstance("EC").generateKeyPair().public.encoded))) {
            try {
                BundleTrust.keys(pem)
                fail("trusted a key that is not Ed25519: $pem")
            } catch (e: BundleSignatureException) {
                assertTrue(e.message!!, e.message!!.startsWith("trusted key: "))
            }
        }
        assertEquals(Ed25519.Provider.JAVA_SECURITY, Ed25519.available)  // Java 17 has it
    }
}
