package com.taste2vec.edge.jvm

import com.sun.jna.Native
import com.sun.jna.NativeLibrary
import java.io.File
import java.util.concurrent.TimeUnit

/**
 * The LiteRT runtime library (`libLiteRt.so`, LiteRT's C API) this process runs models with: found once, bound once
 * ([LiteRtC]), shared by every engine.
 *
 * Where it is looked for, first match wins:
 * 1. the path given to [load];
 * 2. the system property `taste2vec.litert.library`, then the environment variable `TASTE2VEC_LITERT_LIBRARY`;
 * 3. the installed `ai-edge-litert` Python package (the wheel ships `ai_edge_litert/libLiteRt.so` for x86_64 and
 *    aarch64 Linux): in `$VIRTUAL_ENV`, in `./.venv`, then wherever `$TASTE2VEC_PYTHON`, `.venv/bin/python` or
 *    `python3` finds the package;
 * 4. `LiteRt` on the system library path (`LD_LIBRARY_PATH`, `jna.library.path`).
 *
 * A miss is a [LiteRtUnavailableException] that names every place tried.
 */
class LiteRtLibrary private constructor(val path: File) {
    companion object {
        const val PROPERTY = "taste2vec.litert.library"
        const val ENVIRONMENT = "TASTE2VEC_LITERT_LIBRARY"
        private const val FILE_NAME = "libLiteRt.so"
        private const val PACKAGE = "ai_edge_litert"
        @Volatile private var loaded: LiteRtLibrary? = null

        /**
         * The process's runtime: loads and binds it on the first call ([explicit], or the search order above).
         * Later calls return it; asking for a different file then is a [LiteRtUnavailableException] (a process
         * binds one LiteRT).
         */
        @JvmStatic
        @JvmOverloads
        @Synchronized
        fun load(explicit: File? = null): LiteRtLibrary {
            loaded?.let {
                if (explicit == null || explicit.canonicalFile == it.path) return it
                throw LiteRtUnavailableException("LiteRT is already loaded from ${it.path}; a process binds one " +
                                                 "runtime (asked for ${explicit.canonicalFile})")
            }
            val file = explicit?.also { require(it, "the path given") } ?: locate()
            try {
                Native.register(LiteRtC::class.java, NativeLibrary.getInstance(file.path))
            } catch (e: UnsatisfiedLinkError) {
                throw LiteRtUnavailableException("$file: not a loadable LiteRT C API library (${e.message})", e)
            }
            return LiteRtLibrary(file.canonicalFile).also { loaded = it }
        }

        /** The library file the search order finds, without loading it. */
        @JvmStatic
        fun locate(): File {
            val tried = ArrayList<String>()
            fun candidate(f: File?, what: String): File? {
                if (f == null) return null
                tried.add("$f ($what)")
                return f.takeIf { it.isFile }
            }
            val configured = System.getProperty(PROPERTY) ?: System.getenv(ENVIRONMENT)
            if (configured != null) {
                return candidate(File(configured), "-D$PROPERTY / \$$ENVIRONMENT")
                    ?: throw LiteRtUnavailableException("$configured: no such file (set by -D$PROPERTY or \$$ENVIRONMENT)")
            }
            for (root in listOfNotNull(System.getenv("VIRTUAL_ENV"), ".venv")) {
                for (site in sitePackages(File(root))) candidate(File(site, "$PACKAGE/$FILE_NAME"), "Python venv")?.let { return it }
            }
            for (python in listOfNotNull(System.getenv("TASTE2VEC_PYTHON"), ".venv/bin/python", "python3")) {
                candidate(packageDir(python)?.let { File(it, FILE_NAME) }, "$python's $PACKAGE")?.let { return it }
            }
            tried.add("$FILE_NAME on the system library path")
            val system = try {
                NativeLibrary.getInstance("LiteRt").file
            } catch (e: UnsatisfiedLinkError) {
                null
            }
            return system ?: throw LiteRtUnavailableException(
                "LiteRT's C API library ($FILE_NAME) was not found; pip install ai-edge-litert (its wheel ships it), " +
                "or give its path (-D$PROPERTY=... or \$$ENVIRONMENT). Tried: ${tried.joinToString("; ")}")
        }

        private fun require(f: File, what: String) {
            if (!f.isFile) throw LiteRtUnavailableException("$f ($what): no such file")
        }

        private fun sitePackages(venv: File): List<File> =
            File(venv, "lib").listFiles { f -> f.name.startsWith("python") }.orEmpty().sortedBy { it.name }
                .map { File(it, "site-packages") }

        /** Where [python] finds the `ai_edge_litert` package (located, not imported), or null. */
        private fun packageDir(python: String): String? = try {
            val p = ProcessBuilder(python, "-c", "import importlib.util as u, os; s = u.find_spec('$PACKAGE'); " +
                                                 "print(os.path.dirname(s.origin) if s and s.origin else '')")
                .redirectErrorStream(true).start()
            p.outputStream.close()
            if (!p.waitFor(20, TimeUnit.SECONDS)) {  // one short line of output: the pipe cannot fill first
                p.destroyForcibly()
                null
            } else {
                val out = p.inputStream.bufferedReader().readText().trim()
                if (p.exitValue() == 0 && out.isNotEmpty()) out.lines().last() else null
            }
        } catch (e: java.io.IOException) {
            null
        }
    }

    override fun toString(): String = "LiteRtLibrary($path)"
}
