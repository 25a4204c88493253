package com.taste2vec.edge.core

import java.security.GeneralSecurityException
import java.security.KeyFactory
import java.security.Signature
import java.security.SignatureException
import java.security.spec.X509EncodedKeySpec

/**
 * Ed25519 signature verification for bundle signatures, from whichever provider the platform has:
 *
 * - [Provider.JAVA_SECURITY]: `java.security`'s Ed25519 (Java 15+, Android 13 / API 33+);
 * - [Provider.BOUNCY_CASTLE]: BouncyCastle's lightweight API (`org.bouncycastle.crypto.signers.Ed25519Signer`), for
 *   Android 8-12 (API 26-32). The app adds `implementation("org.bouncycastle:bcprov-jdk18on:1.78.1")`; this module
 *   only compiles against it, and loads it only when `java.security` has no Ed25519.
 *
 * Both verify the same RFC 8032 signatures; keys are raw 32-byte public keys (read from PEM by [publicKeyFromPem]).
 */
object Ed25519 {
    enum class Provider { JAVA_SECURITY, BOUNCY_CASTLE }

    /** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }. */
    private val SPKI_PREFIX = byteArrayOf(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00)
    private const val BC_SIGNER = "org.bouncycastle.crypto.signers.Ed25519Signer"

    /** Tests set this to exercise one provider; null picks [available]. */
    @Volatile
    @JvmStatic
    var forced: Provider? = null

    /** The provider [verify] uses here: `java.security` when it has Ed25519, else BouncyCastle when present. */
    @JvmStatic
    val available: Provider? by lazy {
        when {
            hasJavaSecurity() -> Provider.JAVA_SECURITY
            hasClass(BC_SIGNER) -> Provider.BOUNCY_CASTLE
            else -> null
        }
    }

    /** The 32-byte public key of a PEM `-----BEGIN PUBLIC KEY-----` block, as `taste2vec-convert keygen` writes it. */
    @JvmStatic
    fun publicKeyFromPem(pem: String): ByteArray {
        val body = pem.lines().filter { it.isNotBlank() && !it.startsWith("-----") }.joinToString("") { it.trim() }
        val der = try {
            java.util.Base64.getDecoder().decode(body)
        } catch (e: IllegalArgumentException) {
            throw BundleSignatureException("trusted key: not PEM (${e.message})")
        }
        if (der.size != SPKI_PREFIX.size + 32 || !der.copyOf(SPKI_PREFIX.size).contentEquals(SPKI_PREFIX)) {
            throw BundleSignatureException("trusted key: not an Ed25519 public key (expected the 44-byte " +
                                           "SubjectPublicKeyInfo of RFC 8410, got ${der.size} bytes)")
        }
        return der.copyOfRange(SPKI_PREFIX.size, der.size)
    }

    /** Whether [signature] (64 bytes) is [publicKey]'s (32 bytes) Ed25519 signature of [message]. */
    @JvmStatic
    fun verify(publicKey: ByteArray, message: ByteArray, signature: ByteArray): Boolean {
        require(publicKey.size == 32) { "an Ed25519 public key has 32 bytes" }
        if (signature.size != 64) return false
        return when (forced ?: available) {
            Provider.JAVA_SECURITY -> verifyJavaSecurity(publicKey, message, signature)
            Provider.BOUNCY_CASTLE -> BouncyCastleEd25519.verify(publicKey, message, signature)
            null -> throw BundleSignatureException(
                "Ed25519 is not available here: java.security has it from Java 15 and Android 13 (API 33); on older " +
                "Android add BouncyCastle (implementation(\"org.bouncycastle:bcprov-jdk18on:1.78.1\")) or ship bundles " +
                "inside the APK")
        }
    }

    private fun verifyJavaSecurity(publicKey: ByteArray, message: ByteArray, signature: ByteArray): Boolean {
        val verifier = try {
            val key = KeyFactory.getInstance("Ed25519").generatePublic(X509EncodedKeySpec(SPKI_PREFIX + publicKey))
            Signature.getInstance("Ed25519").apply { initVerify(key) }
        } catch (e: GeneralSecurityException) {
            throw BundleSignatureException("Ed25519 (java.security): ${e.message}")
        }
        return try {
            verifier.update(message)
            verifier.verify(signature)
        } catch (e: SignatureException) {  // bytes that are not a signature at all (e.g. not a curve point)
            false
        }
    }

    private fun hasJavaSecurity(): Boolean = try {
        KeyFactory.getInstance("Ed25519")
        Signature.getInstance("Ed25519")
        true
    } catch (e: GeneralSecurityException) {
        false
    }

    private fun hasClass(name: String): Boolean = try {
        Class.forName(name, false, Ed25519::class.java.classLoader)
        true
    } catch (e: ClassNotFoundException) {
        false
    } catch (e: LinkageError) {
        false
    }
}

/** BouncyCastle's lightweight Ed25519 verifier; this class is loaded only when BouncyCastle is the provider. */
private object BouncyCastleEd25519 {
    fun verify(publicKey: ByteArray, message: ByteArray, signature: ByteArray): Boolean {
        val signer = org.bouncycastle.crypto.signers.Ed25519Signer()
        signer.init(false, org.bouncycastle.crypto.params.Ed25519PublicKeyParameters(publicKey, 0))
        signer.update(message, 0, message.size)
        return signer.verifySignature(signature)
    }
}
