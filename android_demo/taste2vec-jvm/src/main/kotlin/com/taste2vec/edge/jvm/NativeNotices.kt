package com.taste2vec.edge.jvm

import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import java.io.File

/**
 * LiteRT writes a dozen informational lines to the process's stderr (fd 2) whenever an environment and a compiled
 * model are created ("Creating LiteRT environment", accelerators it could not load, "XNNPACK CPU accelerator
 * registered"): nothing a caller can act on, and noise in every log. [quiet] runs such a step with fd 2 pointed at a
 * temporary file and then replays to stderr every line that is not such a notice, so errors still show. The same
 * rule as the Python SDK's; `TASTE2VEC_VERBOSE=1` (or `-Dtaste2vec.verbose=true`) shows everything.
 *
 * fd 2 is process-wide: while a step runs, other threads' stderr lines are captured too and replayed after it
 * (delayed, never lost). Steps are serialized.
 */
internal object NativeNotices {
    private val NOTICE = Regex("""^(INFO: |VERBOSE: |WARNING: \[(npu|gpu)_registry\.cc:\d+] (NPU|GPU) accelerator could not be loaded)""")
    private val lock = Any()

    val verbose: Boolean
        get() = System.getProperty("taste2vec.verbose")?.toBoolean() == true ||
            (System.getenv("TASTE2VEC_VERBOSE") ?: "").trim().let { it.isNotEmpty() && it != "0" }

    /** Runs [block] with LiteRT's notices filtered out of stderr (see the object's docs). */
    fun <T> quiet(block: () -> T): T {
        if (verbose || !Libc.available) return block()
        synchronized(lock) {
            System.err.flush()
            val log = File.createTempFile("taste2vec-litert-", ".log")
            val saved = Libc.redirectStderr(log)
            try {
                return block()
            } finally {
                Libc.restoreStderr(saved)
                log.useLines { lines -> lines.filterNot { NOTICE.containsMatchIn(it) }.forEach { System.err.println(it) } }
                log.delete()
            }
        }
    }
}

/** The few POSIX calls [NativeNotices] needs, bound with JNA direct mapping on first use. */
private object Libc {
    private const val STDERR = 2
    private const val O_WRONLY = 1
    private const val O_CREAT = 0x40
    private const val O_TRUNC = 0x200

    val available: Boolean = try {
        Native.register(Libc::class.java, NativeLibrary.getInstance("c"))
        true
    } catch (e: UnsatisfiedLinkError) {
        false
    } catch (e: IllegalArgumentException) {
        false
    }

    @JvmStatic external fun dup(fd: Int): Int
    @JvmStatic external fun dup2(from: Int, to: Int): Int
    @JvmStatic external fun close(fd: Int): Int
    @JvmStatic external fun open(path: String, flags: Int, mode: Int): Int

    /** Points fd 2 at [file]; returns a descriptor of the old stderr for [restoreStderr] (-1 if nothing changed). */
    fun redirectStderr(file: File): Int {
        val fd = open(file.path, O_WRONLY or O_CREAT or O_TRUNC, 384 /* 0600 */)
        if (fd < 0) return -1
        val saved = dup(STDERR)
        if (saved < 0 || dup2(fd, STDERR) < 0) {
            if (saved >= 0) close(saved)
            close(fd)
            return -1
        }
        close(fd)
        return saved
    }

    fun restoreStderr(saved: Int) {
        if (saved < 0) return
        dup2(saved, STDERR)
        close(saved)
    }
}
