package com.taste2vec.edge.jvm.tools

import com.taste2vec.edge.core.BundleTrust
import com.taste2vec.edge.core.ModelBundle
import com.taste2vec.edge.core.Taste2VecException
import java.io.File
import kotlin.system.exitProcess

/** Bad command-line input: one line on stderr, exit 2. */
internal class UsageException(message: String) : Exception(message)

/**
 * The options both tools share, parsed by hand (the library has no dependencies): `--name value` pairs, repeatable
 * ones collected, `--help`, and positional arguments.
 */
internal class Args(argv: Array<String>, private val usage: String, private val flags: Set<String> = emptySet()) {
    private val values = LinkedHashMap<String, MutableList<String>>()
    val positional = ArrayList<String>()

    init {
        var i = 0
        while (i < argv.size) {
            val a = argv[i]
            when {
                a == "-h" || a == "--help" -> {
                    println(usage.trimIndent())
                    exitProcess(0)
                }
                a in flags -> values.getOrPut(a) { ArrayList() }.add("true")
                a.startsWith("--") && a != "-" -> {
                    if (i + 1 >= argv.size) throw UsageException("$a needs a value")
                    values.getOrPut(a) { ArrayList() }.add(argv[++i])
                }
                else -> positional.add(a)
            }
            i++
        }
    }

    fun has(name: String): Boolean = name in values
    fun get(name: String): String? = values[name]?.last()
    fun all(name: String): List<String> = values[name].orEmpty()

    fun int(name: String, default: Int, min: Int): Int {
        val v = get(name) ?: return default
        val n = v.toIntOrNull() ?: throw UsageException("$name: '$v' is not an integer")
        if (n < min) throw UsageException("$name: $n is below the minimum $min")
        return n
    }

    fun checkKnown(known: Set<String>) {
        val unknown = values.keys - known - flags
        if (unknown.isNotEmpty()) throw UsageException("unknown option ${unknown.first()} (see --help)")
    }

    /**
     * The bundle `--bundle` names (a folder or `.zip`): it must be signed by a `--trusted-key` PEM file, or
     * `--allow-unsigned` (development; a broken signature is refused regardless). Without `--bundle`, the default
     * bundle of this checkout (`sdk/taste2vec/models/DEFAULT`), trusted as the package ships it.
     */
    fun bundle(): ModelBundle {
        val path = get("--bundle")
        val keys = all("--trusted-key").map { k ->
            val f = File(k)
            if (!f.isFile) throw UsageException("--trusted-key $k: no such file")
            f.readText()
        }
        if (path == null) return ModelBundle.load(defaultBundle(), BundleTrust.PACKAGED)
        val trust = when {
            keys.isNotEmpty() -> BundleTrust.keys(*keys.toTypedArray())
            has("--allow-unsigned") -> BundleTrust.DEVELOPMENT
            else -> throw UsageException("--bundle $path: give --trusted-key PEM (the key that signed it) or " +
                                         "--allow-unsigned (development builds)")
        }
        if (!File(path).exists()) throw UsageException("--bundle $path: no such file or folder")
        return ModelBundle.load(File(path), trust)
    }

    private fun defaultBundle(): File {
        val models = File("sdk/taste2vec/models")
        val name = File(models, "DEFAULT").takeIf { it.isFile }?.readText()?.trim()
            ?: throw UsageException("no --bundle given and no sdk/taste2vec/models/DEFAULT here (run from the " +
                                    "repository root, or give --bundle)")
        return File(models, name)
    }
}

/** Runs a tool's body: usage and library errors are one line on stderr and exit 2, as in the Python CLIs. */
internal fun runTool(name: String, body: () -> Int): Nothing {
    val code = try {
        body()
    } catch (e: UsageException) {
        System.err.println("$name: ${e.message}")
        2
    } catch (e: Taste2VecException) {
        System.err.println("$name: ${e.errorType}: ${e.message}")
        2
    }
    System.out.flush()
    exitProcess(code)
}
