package com.taste2vec.edge.core

import java.io.File
import java.security.MessageDigest

/** A bundle is corrupt, incomplete, tampered with, or does not fit this module. */
class BundleException(message: String) : Taste2VecException(message)

/**
 * A verified Taste2Vec model bundle (`taste2vec.bundle/1`): manifest + model + record spec + tokenizer + lexicon.
 * The same checks as the Python SDK's `ModelBundle.load`, before anything is used: the manifest has this format,
 * every listed file is present with the listed size and sha256, the record spec / tokenizer / lexicon versions are
 * the manifest's, and the model's input shapes fit the spec and the lexicon.
 *
 * Files come from a [reader] (a folder here, Android assets in the app): `name -> bytes`, or null when absent.
 */
class ModelBundle private constructor(val origin: String, val manifest: Map<String, Any?>, val spec: RecordSpec,
                                      val tokenizer: WordPieceTokenizer, val lexicon: SensoryLexicon,
                                      private val files: Map<String, ByteArray>) {
    val name: String get() = manifest["name"] as String
    val version: String get() = manifest["version"] as String
    /** `name-version`, the id every embedding carries. */
    val modelId: String get() = "$name-$version"
    val embeddingDim: Int get() = ((manifest["embedding"] as? Map<*, *>)?.get("dim") as? Double)?.toInt() ?: 128

    /** The verified bytes of the TFLite model (hand them to the LiteRT Interpreter). */
    fun modelBytes(): ByteArray = files.getValue("model.tflite")

    fun fileBytes(name: String): ByteArray? = files[name]

    fun preprocessor(): Preprocessor = Preprocessor(spec, tokenizer, lexicon)

    companion object {
        const val FORMAT = "taste2vec.bundle/1"
        const val MANIFEST = "manifest.json"
        private val REQUIRED = listOf("model.tflite", "record_spec.json", "tokenizer.json", "sensory_lexicon.json")

        /** Loads and verifies a bundle folder. */
        @JvmStatic
        fun load(dir: File): ModelBundle = load(dir.path) { name ->
            val f = File(dir, name)
            if (f.isFile) f.readBytes() else null
        }

        /** Loads and verifies a bundle whose files [reader] returns (null = absent). */
        @JvmStatic
        fun load(origin: String, reader: (String) -> ByteArray?): ModelBundle {
            val raw = reader(MANIFEST) ?: throw BundleException("$origin: no $MANIFEST")
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
            val listed = manifest["files"] as? Map<*, *> ?: throw BundleException("$origin/$MANIFEST: no 'files' table")
            for (req in REQUIRED) if (req !in listed) throw BundleException("$origin/$MANIFEST: required file $req is not listed")
            val files = LinkedHashMap<String, ByteArray>()
            for ((k, v) in listed) {
                val fname = k.toString()
                if ("/" in fname || fname.startsWith(".")) throw BundleException("$origin/$MANIFEST: file name '$fname' is not a plain name")
                val info = v as? Map<*, *> ?: throw BundleException("$origin/$MANIFEST: bad entry for $fname")
                val data = reader(fname) ?: throw BundleException("$origin/$fname: listed in the manifest but missing")
                if (data.size.toDouble() != info["size"]) {
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
            return ModelBundle(origin, manifest, spec, tok, lex, files)
        }

        @JvmStatic
        fun sha256(data: ByteArray): String =
            MessageDigest.getInstance("SHA-256").digest(data).joinToString("") { String.format("%02x", it) }
    }
}
