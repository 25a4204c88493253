package com.taste2vec.edge.core

import java.io.File
import java.security.MessageDigest
import java.util.Base64

/** A bundle is corrupt, incomplete, tampered with, or does not fit this module. */
open class BundleException(message: String) : Taste2VecException(message) {
    override val errorType: String get() = "BundleError"
}

/** A bundle older than the version in use was refused (Python: `DowngradeError`): anti-rollback. */
class DowngradeException(message: String) : BundleException(message) {
    override val errorType: String get() = "DowngradeError"
}

/**
 * The order of bundle versions, as the Python SDK's `version_key`: MAJOR.MINOR.PATCH numerically, a pre-release
 * (`1.2.0-rc1`) before its release, build metadata (`+...`) ignored; pre-releases of one release are equal.
 */
object Versions {
    private val SEMVER = Regex("^\\d+\\.\\d+\\.\\d+(?:[-+][0-9A-Za-z.-]+)?$")

    /** The comparable key of [version]; [BundleException] for anything that is not a semantic version. */
    @JvmStatic
    fun key(version: String): List<Long> {
        if (!SEMVER.matches(version)) throw BundleException("bundle version '$version' is not a semantic version (MAJOR.MINOR.PATCH)")
        val main = version.substringBefore('+')
        val core = main.substringBefore('-').split('.').map { it.toBigInteger().min(Long.MAX_VALUE.toBigInteger()).toLong() }
        return core + (if ('-' in main) 0L else 1L)
    }

    /** Negative, zero or positive as [a] is older than, as old as, or newer than [b]. */
    @JvmStatic
    fun compare(a: String, b: String): Int {
        val x = key(a)
        val y = key(b)
        for (i in x.indices) if (x[i] != y[i]) return x[i].compareTo(y[i])
        return 0
    }
}

/** A bundle's origin is not established: unsigned, signed by an untrusted key, or a signature that fails. */
class BundleSignatureException(message: String) : BundleException(message) {
    override val errorType: String get() = "BundleSignatureError"
}

/**
 * Whose bundles this app accepts. A bundle from the APK's own assets is [PACKAGED] (the APK signature covers it);
 * a downloaded one (after a rollout assignment) must carry `manifest.sig`, an Ed25519 signature of the exact bytes
 * of `manifest.json` by one of [keys] (PEM public keys, as `taste2vec-convert keygen` writes them). [DEVELOPMENT]
 * accepts unsigned bundles and unknown keys, never a signature that fails to verify. Same rules as the Python SDK.
 */
class BundleTrust private constructor(private val keys: Map<String, ByteArray>, val allowUnsigned: Boolean,
                                      val minVersion: String? = null) {
    /** The ids of the trusted keys (`key_id` in `manifest.sig`). */
    val keyIds: Set<String> get() = keys.keys

    /**
     * This trust, refusing bundles older than [version] (the version the app runs now) with a [DowngradeException]:
     * anti-rollback. Leave it out only for a deliberate downgrade (`EmbedderOptions(allowDowngrade = true)`).
     */
    fun notOlderThan(version: String): BundleTrust {
        Versions.key(version)  // a semantic version, or BundleException now
        return BundleTrust(keys, allowUnsigned, version)
    }

    companion object {
        /** Bundled in the app itself: trusted as part of the APK. */
        @JvmField val PACKAGED = BundleTrust(emptyMap(), true)

        /** Development builds only. */
        @JvmField val DEVELOPMENT = BundleTrust(emptyMap(), true)

        /**
         * Bundles signed by one of these Ed25519 public keys (PEM text, `-----BEGIN PUBLIC KEY-----`). Verified with
         * [Ed25519]: `java.security` on API 33+, BouncyCastle on older Android.
         */
        @JvmStatic
        fun keys(vararg pem: String): BundleTrust =
            BundleTrust(pem.map { Ed25519.publicKeyFromPem(it) }.associateBy { keyId(it) }, false)

        /** First 16 hex digits of SHA-256 of the raw 32-byte public key (the `key_id` in `manifest.sig`). */
        @JvmStatic
        fun keyId(raw: ByteArray): String = ModelBundle.sha256(raw).substring(0, 16)
    }

    /** Checks [signature] (`manifest.sig` bytes, or null) over [manifest]; returns how the bundle was trusted. */
    internal fun check(origin: String, manifest: ByteArray, signature: ByteArray?): String {
        if (signature == null) {
            if (allowUnsigned) return "unsigned (allowed)"
            throw BundleSignatureException("$origin: the bundle is not signed (no manifest.sig); give the app's trusted " +
                                           "public keys and a signed bundle")
        }
        if (signature.size > 4096) throw BundleSignatureException("$origin/manifest.sig: larger than 4 KB")
        val doc = try {
            Json.parse(String(signature, Charsets.UTF_8)).obj("manifest.sig")
        } catch (e: Taste2VecException) {
            throw BundleSignatureException("$origin/manifest.sig: unreadable (${e.message})")
        }
        if (doc["format"] != "taste2vec.signature/1" || doc["algorithm"] != "Ed25519") {
            throw BundleSignatureException("$origin/manifest.sig: not a taste2vec.signature/1 Ed25519 document")
        }
        val id = doc["key_id"] as? String ?: throw BundleSignatureException("$origin/manifest.sig: no key_id")
        val sig = try {
            Base64.getDecoder().decode(doc["signature"] as? String ?: "")
        } catch (e: IllegalArgumentException) {
            throw BundleSignatureException("$origin/manifest.sig: 'signature' is not base64")
        }
        if (sig.size != 64) throw BundleSignatureException("$origin/manifest.sig: an Ed25519 signature has 64 bytes")
        val key = keys[id]
        if (key == null) {
            if (allowUnsigned) return "untrusted key $id (allowed)"
            throw BundleSignatureException("$origin: signed by key $id, which is not trusted (trusted: " +
                                           "${keys.keys.joinToString().ifEmpty { "none given" }})")
        }
        if (!Ed25519.verify(key, manifest, sig)) throw BundleSignatureException("$origin: the signature by key $id does not verify: manifest.json was " +
                                                "changed after signing")
        return "signed by $id"
    }
}

/**
 * A verified Taste2Vec model bundle (`taste2vec.bundle/1`): manifest + model + record spec + tokenizer + lexicon.
 * The same checks as the Python SDK's `ModelBundle.load`, before anything is used: the manifest has this format,
 * every listed file is present with the listed size and sha256, the record spec / tokenizer / lexicon versions are
 * the manifest's, and the model's input shapes fit the spec and the lexicon.
 *
 * Files come from a [BundleSource]: a folder, a `.zip` file, the bytes of a zip (a bundle downloaded after a rollout
 * assignment), or any `name -> bytes` reader (Android assets). Reading is bounded as in Python ([BundleLimits]):
 * only the files the manifest lists are read, each no further than its listed size. The format is specified in
 * `docs/bundle-format.md`.
 */
class ModelBundle private constructor(val origin: String, val manifest: Map<String, Any?>, val spec: RecordSpec,
                                      val tokenizer: WordPieceTokenizer, val lexicon: SensoryLexicon,
                                      private val files: Map<String, ByteArray>, val trustedAs: String) {
    val name: String get() = manifest["name"] as String
    val version: String get() = manifest["version"] as String
    /** `name-version`, the id every embedding carries. */
    val modelId: String get() = "$name-$version"
    val embeddingDim: Int get() = ((manifest["embedding"] as? Map<*, *>)?.get("dim") as? Double)?.toInt() ?: 128

    /** The verified bytes of the TFLite model (hand them to the LiteRT Interpreter). */
    fun modelBytes(): ByteArray = files.getValue("model.tflite")

    fun fileBytes(name: String): ByteArray? = files[name]

    fun preprocessor(): Preprocessor = Preprocessor(spec, tokenizer, lexicon)

    /** Runs this bundle's `golden_outputs.json` through [engine] on this device: see [SelfCheck.run]. */
    @JvmOverloads
    fun selfCheck(engine: InferenceEngine, minCosine: Double = SelfCheck.DEFAULT_MIN_COSINE): SelfCheckReport =
        SelfCheck.run(this, engine, minCosine)

    /**
     * The inputs this bundle's files make for signature `embed_<bucket>`, in [ModelInputs.INPUT_NAMES] order: name ->
     * shape with the batch dimension (`token_ids` int32, the others float32); with [context] false, for
     * `embed_<bucket>_c0` (without [ModelInputs.CONTEXT_INPUTS]). Every engine checks its model against this contract
     * when it is created.
     */
    @JvmOverloads
    fun inputShapes(bucket: Int, context: Boolean = true): Map<String, IntArray> = linkedMapOf(
        "token_ids" to intArrayOf(1, bucket), "lexicon" to intArrayOf(1, lexicon.dim),
        "metrics" to intArrayOf(1, spec.numMetrics), "metrics_mask" to intArrayOf(1, spec.numMetrics),
        "context" to intArrayOf(1, spec.contextMaxSteps, spec.contextWidth),
        "context_mask" to intArrayOf(1, spec.contextMaxSteps)).filterKeys { context || it !in ModelInputs.CONTEXT_INPUTS }

    /** The latency the model was built for (manifest `latency_budget`; older bundles: p99 50 ms). */
    val latencyBudgetMs: Double
        get() = ((manifest["latency_budget"] as? Map<*, *>)?.get("ms") as? Double) ?: 50.0

    companion object {
        const val FORMAT = "taste2vec.bundle/1"
        const val MANIFEST = "manifest.json"
        private val REQUIRED = listOf("model.tflite", "record_spec.json", "tokenizer.json", "sensory_lexicon.json")

        /** Loads and verifies a bundle folder or a bundle `.zip` file; its origin per [trust]. */
        @JvmStatic
        fun load(path: File, trust: BundleTrust): ModelBundle =
            load(if (path.isDirectory) BundleSource.folder(path) else BundleSource.zipFile(path), trust)

        /** Loads and verifies the bytes of a bundle zip (e.g. downloaded after a rollout assignment). */
        @JvmStatic
        fun fromBytes(zip: ByteArray, trust: BundleTrust, origin: String = "<bundle bytes>"): ModelBundle =
            load(BundleSource.zipBytes(zip, origin), trust)

        /** Loads and verifies a bundle whose files [reader] returns (null = absent); its origin per [trust]. */
        @JvmStatic
        fun load(origin: String, trust: BundleTrust, reader: (String) -> ByteArray?): ModelBundle =
            load(BundleSource.of(origin, reader), trust)

        /** Loads and verifies a bundle from [source]; its origin per [trust]. */
        @JvmStatic
        fun load(source: BundleSource, trust: BundleTrust): ModelBundle {
            val origin = source.origin
            val raw = source.read(MANIFEST, BundleLimits.MAX_MANIFEST_BYTES) ?: throw BundleException("$origin: no $MANIFEST")
            if (raw.size > BundleLimits.MAX_MANIFEST_BYTES) {
                throw BundleException("$origin/$MANIFEST: larger than ${BundleLimits.MAX_MANIFEST_BYTES} bytes")
            }
            val signature = source.read("manifest.sig", BundleLimits.MAX_SIGNATURE_BYTES)
            val trustedAs = trust.check(origin, raw, signature)  // origin before anything is parsed
            val manifest = try {
                Json.parse(String(raw, Charsets.UTF_8)).obj("manifest")
            } catch (e: Taste2VecException) {
                throw BundleException("$origin/$MANIFEST: unreadable manifest (${e.message})")
            }
            if (manifest["format"] != FORMAT) {
                throw BundleException("$origin/$MANIFEST: format '${manifest["format"]}', this module reads $FORMAT")
            }
            if (manifest["name"] !is String || manifest["version"] !is String) {
                throw BundleException("$origin/$MANIFEST: no name / version")
            }
            val version = manifest["version"] as String
            trust.minVersion?.let { floor ->  // anti-rollback, before any file is read
                if (Versions.compare(version, floor) < 0) {
                    throw DowngradeException("$origin: ${manifest["name"]} $version is older than $floor, the version " +
                                             "in use: refused (anti-rollback; a deliberate downgrade needs allowDowngrade)")
                }
            }
            val listed = manifest["files"] as? Map<*, *> ?: throw BundleException("$origin/$MANIFEST: no 'files' table")
            for (req in REQUIRED) if (req !in listed) throw BundleException("$origin/$MANIFEST: required file $req is not listed")
            if (listed.size > BundleLimits.MAX_ENTRIES) {
                throw BundleException("$origin/$MANIFEST: lists ${listed.size} files, a bundle has at most ${BundleLimits.MAX_ENTRIES}")
            }
            val files = LinkedHashMap<String, ByteArray>()
            var total = 0L
            for ((k, v) in listed) {
                val fname = k.toString()
                if (!plainName(fname) || fname == MANIFEST) throw BundleException("$origin/$MANIFEST: file name '$fname' is not a plain name")
                val info = v as? Map<*, *> ?: throw BundleException("$origin/$MANIFEST: bad entry for $fname")
                val size = info["size"] as? Double
                if (size == null || size < 0 || size > BundleLimits.MAX_FILE_BYTES || size != Math.floor(size)) {
                    throw BundleException("$origin/$MANIFEST: 'files.$fname.size' must be an integer in [0, ${BundleLimits.MAX_FILE_BYTES}]")
                }
                total += size.toLong()
                if (total > BundleLimits.MAX_BUNDLE_BYTES) {
                    throw BundleException("$origin/$MANIFEST: the listed files add up to more than ${BundleLimits.MAX_BUNDLE_BYTES} bytes")
                }
                val data = source.read(fname, size.toLong()) ?: throw BundleException("$origin/$fname: listed in the manifest but missing")
                if (data.size.toDouble() != size) {
                    throw BundleException("$origin/$fname: size ${data.size} bytes, manifest says ${info["size"]}")
                }
                if (sha256(data) != info["sha256"]) {
                    throw BundleException("$origin/$fname: sha256 does not match the manifest (corrupt or tampered file)")
                }
                files[fname] = data
            }
            fun text(n: String) = String(files.getValue(n), Charsets.UTF_8)
            fun <T> parse(n: String, f: () -> T): T = try {
                f()
            } catch (e: Taste2VecException) {
                throw BundleException("$origin/$n: unreadable (${e.message})")
            }
            val spec = parse("record_spec.json") { RecordSpec.parse(text("record_spec.json")) }
            val wantSpec = (manifest["record_spec"] as? Map<*, *>)?.get("version")
            if (spec.version != wantSpec) throw BundleException("$origin/record_spec.json: version ${spec.version}, manifest says $wantSpec")
            val tok = parse("tokenizer.json") { WordPieceTokenizer.parse(text("tokenizer.json")) }
            val wantTok = (manifest["tokenizer"] as? Map<*, *>)?.get("version")
            if (tok.version != wantTok) throw BundleException("$origin/tokenizer.json: version ${tok.version}, manifest says $wantTok")
            val lex = parse("sensory_lexicon.json") { SensoryLexicon.parse(text("sensory_lexicon.json")) }
            val wantLex = manifest["lexicon"] as? Map<*, *>
            if (lex.version != wantLex?.get("version") || lex.dim.toDouble() != wantLex["dim"]) {
                throw BundleException("$origin/sensory_lexicon.json: version ${lex.version} dim ${lex.dim}, manifest says " +
                                      "${wantLex?.get("version")} dim ${wantLex?.get("dim")}")
            }
            val sig = (manifest["signatures"] as? List<*>)?.firstOrNull() as? Map<*, *>
            val inputs = (sig?.get("inputs") as? List<*>)?.mapNotNull { it as? Map<*, *> }?.associateBy { it["name"] } ?: emptyMap()
            fun lastDim(n: String) = ((inputs[n]?.get("shape") as? List<*>)?.lastOrNull() as? Double)?.toInt()
            if (lastDim("lexicon") != lex.dim) throw BundleException("$origin/$MANIFEST: model's lexicon input does not have the lexicon's ${lex.dim} entries")
            if (lastDim("metrics") != spec.numMetrics) throw BundleException("$origin/$MANIFEST: model's metrics input does not match the record spec's ${spec.numMetrics}")
            return ModelBundle(origin, manifest, spec, tok, lex, files, trustedAs)
        }

        @JvmStatic
        fun sha256(data: ByteArray): String =
            MessageDigest.getInstance("SHA-256").digest(data).joinToString("") { String.format("%02x", it) }
    }
}
