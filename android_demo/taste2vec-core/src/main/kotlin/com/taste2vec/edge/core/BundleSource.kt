package com.taste2vec.edge.core

import java.io.ByteArrayInputStream
import java.io.File
import java.io.IOException
import java.io.InputStream
import java.util.zip.ZipException
import java.util.zip.ZipInputStream

/**
 * Bounds on reading a bundle, the same as the Python SDK's (`taste2vec.bundle`): a bundle (folder or zip) is at most
 * [MAX_BUNDLE_BYTES], one file at most [MAX_FILE_BYTES], the manifest at most [MAX_MANIFEST_BYTES], at most
 * [MAX_ENTRIES] files. Anything beyond is refused with a [BundleException] before it is held in memory.
 */
object BundleLimits {
    const val MAX_BUNDLE_BYTES: Long = 256L shl 20
    const val MAX_FILE_BYTES: Long = 200L shl 20
    const val MAX_MANIFEST_BYTES: Long = 1L shl 20
    const val MAX_SIGNATURE_BYTES: Long = 4096
    const val MAX_ENTRIES = 64
}

/** A plain bundle file name (or a zip's one top folder): no folder, drive or stream (`:`), not hidden, printable, at
 *  most 100 characters. The Python SDK's `bundle_file_name`. */
internal fun plainName(name: String): Boolean =
    name.isNotEmpty() && name.length <= 100 && !name.startsWith(".") &&
        name.none { it == '/' || it == '\\' || it == ':' || it < ' ' }

/**
 * Where a bundle's files come from: `read(name, maxBytes)` returns the file's bytes (at most `maxBytes + 1` of them,
 * so the caller can tell a file that is too long), or null when there is no such file.
 */
interface BundleSource {
    /** Where the bundle came from, for messages (a path, `assets/taste2vec`, `<bytes>`). */
    val origin: String

    fun read(name: String, maxBytes: Long): ByteArray?

    companion object {
        /** A bundle folder: only the files asked for are read, each no further than asked. */
        @JvmStatic
        fun folder(dir: File): BundleSource = FolderSource(dir)

        /** A bundle `.zip` file (as `taste2vec.bundle.pack_bundle` writes it, or a zip of the folder). */
        @JvmStatic
        fun zipFile(file: File): BundleSource {
            val size = file.length()
            if (!file.isFile) throw BundleException("${file.path}: not a bundle file")
            if (size > BundleLimits.MAX_BUNDLE_BYTES) {
                throw BundleException("${file.path}: $size bytes, a bundle has at most ${BundleLimits.MAX_BUNDLE_BYTES}")
            }
            return try {
                file.inputStream().use { zip(it, file.path) }
            } catch (e: IOException) {
                throw BundleException("${file.path}: cannot read (${e.message})")
            }
        }

        /** The bytes of a bundle zip (downloaded, or read from anywhere). */
        @JvmStatic
        fun zipBytes(data: ByteArray, origin: String = "<bundle bytes>"): BundleSource {
            if (data.size > BundleLimits.MAX_BUNDLE_BYTES) {
                throw BundleException("$origin: ${data.size} bytes, a bundle has at most ${BundleLimits.MAX_BUNDLE_BYTES}")
            }
            return zip(ByteArrayInputStream(data), origin)
        }

        /** Any `name -> bytes or null` reader, e.g. Android assets; each answer is cut at the bound asked for. */
        @JvmStatic
        fun of(origin: String, reader: (String) -> ByteArray?): BundleSource = object : BundleSource {
            override val origin = origin
            override fun read(name: String, maxBytes: Long): ByteArray? = reader(name)?.let { cut(it, maxBytes) }
        }

        /**
         * Members of a bundle zip: plain names at the top level, or all inside one top folder (`<name>-<version>/`).
         * Members are inflated as streams and cut at the bounds: the sizes an archive declares are not trusted.
         */
        private fun zip(input: InputStream, origin: String): BundleSource {
            val raw = LinkedHashMap<String, ByteArray>()
            var total = 0L
            try {
                ZipInputStream(input).use { zin ->
                    while (true) {
                        val entry = zin.nextEntry ?: break
                        if (entry.isDirectory) continue
                        if (raw.size >= BundleLimits.MAX_ENTRIES) {
                            throw BundleException("$origin: more than ${BundleLimits.MAX_ENTRIES} archive members")
                        }
                        if (entry.name in raw) throw BundleException("$origin: archive member '${entry.name}' appears twice")
                        val data = readBounded(zin, BundleLimits.MAX_FILE_BYTES)
                        if (data.size > BundleLimits.MAX_FILE_BYTES) {
                            throw BundleException("$origin: archive member '${entry.name}' is larger than " +
                                                  "${BundleLimits.MAX_FILE_BYTES} bytes")
                        }
                        total += data.size
                        if (total > BundleLimits.MAX_BUNDLE_BYTES) {
                            throw BundleException("$origin: more than ${BundleLimits.MAX_BUNDLE_BYTES} bytes inflated")
                        }
                        raw[entry.name] = data
                    }
                }
            } catch (e: ZipException) {
                throw BundleException("$origin: not a readable bundle archive (${e.message})")
            } catch (e: IOException) {
                throw BundleException("$origin: not a readable bundle archive (${e.message})")
            } catch (e: IllegalArgumentException) {  // malformed entry names
                throw BundleException("$origin: not a readable bundle archive (${e.message})")
            }
            if (raw.isEmpty()) throw BundleException("$origin: not a bundle archive (no files)")
            val tops = raw.keys.filter { "/" in it }.map { it.substringBefore("/") }.toSet()
            val prefix = if (tops.size == 1 && raw.keys.all { "/" in it }) tops.first() + "/" else ""
            if (prefix.isNotEmpty() && !plainName(prefix.dropLast(1))) {  // `../`, `/`, `C:/`, `.hidden/`
                throw BundleException("$origin: archive folder '${prefix.dropLast(1)}' is not a plain name")
            }
            val files = LinkedHashMap<String, ByteArray>()
            for ((name, data) in raw) {
                val plain = name.removePrefix(prefix)
                if (!plainName(plain) || plain in files) {
                    throw BundleException("$origin: archive member '$name' is not a plain bundle file")
                }
                files[plain] = data
            }
            return MemorySource(origin, files)
        }

        internal fun readBounded(input: InputStream, maxBytes: Long): ByteArray {
            val out = java.io.ByteArrayOutputStream()
            val buf = ByteArray(1 shl 16)
            var left = maxBytes + 1
            while (left > 0) {
                val n = input.read(buf, 0, minOf(buf.size.toLong(), left).toInt())
                if (n < 0) break
                out.write(buf, 0, n)
                left -= n
            }
            return out.toByteArray()
        }
    }
}

/** At most `maxBytes + 1` bytes of [data]: enough to tell that it is longer than allowed. */
private fun cut(data: ByteArray, maxBytes: Long): ByteArray =
    if (data.size > maxBytes) data.copyOf((maxBytes + 1).toInt()) else data

private class FolderSource(val dir: File) : BundleSource {
    override val origin: String = dir.path

    init {
        if (!dir.isDirectory) throw BundleException("${dir.path}: not a bundle folder")
    }

    override fun read(name: String, maxBytes: Long): ByteArray? {
        if (!plainName(name)) return null
        val f = File(dir, name)
        if (!f.exists()) return null
        if (!f.isFile) throw BundleException("${f.path}: not a regular file")
        return try {
            f.inputStream().use { BundleSource.readBounded(it, maxBytes) }
        } catch (e: IOException) {
            throw BundleException("${f.path}: cannot read (${e.message})")
        }
    }
}

private class MemorySource(override val origin: String, val files: Map<String, ByteArray>) : BundleSource {
    override fun read(name: String, maxBytes: Long): ByteArray? = files[name]?.let { cut(it, maxBytes) }
}
