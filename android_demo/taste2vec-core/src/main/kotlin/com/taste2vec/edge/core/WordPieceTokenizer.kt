package com.taste2vec.edge.core

/** Token ids of one text (unpadded, cut to the largest bucket) and whether it was cut. */
class Encoding(val ids: IntArray, val tokens: List<String>, val truncated: Boolean)

/**
 * The on-device WordPiece tokenizer (`tokenizer.json`, format `taste2vec.wordpiece/1`), rule for rule the Python
 * SDK's `taste2vec.tokenizer` (its module docs are the spec): NFKC + lower-case; Latin runs, Hangul runs and
 * single other code points are words; greedy longest-match-first pieces with a `##` continuation prefix; `[PAD]`
 * = 0; truncation to the largest length bucket. Characters are code points. Immutable, thread-safe.
 */
class WordPieceTokenizer(val vocab: List<String>, val buckets: IntArray, val continuationPrefix: String = "##",
                         val maxWordChars: Int = 24, val version: String = "1.0.0") {
    private val index = HashMap<String, Int>(vocab.size * 2)

    init {
        if (vocab.isEmpty() || vocab[0] != PAD || UNK !in vocab) {
            throw SpecException("vocabulary must start with $PAD and contain $UNK")
        }
        vocab.forEachIndexed { i, t -> if (index.put(t, i) != null) throw SpecException("duplicate vocabulary entry '$t'") }
        if (buckets.isEmpty() || buckets[0] < 1 || (1 until buckets.size).any { buckets[it] <= buckets[it - 1] }) {
            throw SpecException("buckets must be increasing positive lengths")
        }
    }

    val vocabSize: Int get() = vocab.size
    val maxTokens: Int get() = buckets[buckets.size - 1]
    val unkId: Int get() = index.getValue(UNK)

    fun id(token: String): Int? = index[token]

    /** WordPiece split of one pre-tokenized word (rule 3). */
    fun wordPieces(word: String): List<String> {
        val cps = Text.codePoints(word)
        if (cps.size > maxWordChars) return listOf(UNK)
        val pieces = ArrayList<String>()
        var start = 0
        while (start < cps.size) {
            var end = cps.size
            var found = false
            while (end > start) {
                val sub = String(cps, start, end - start)
                val piece = if (start == 0) sub else continuationPrefix + sub
                if (index.containsKey(piece)) {
                    pieces.add(piece)
                    found = true
                    break
                }
                end--
            }
            if (!found) {
                pieces.add(UNK)
                end = start + 1
            }
            start = end
        }
        return pieces
    }

    /** Normalized, pre-tokenized, WordPiece-split tokens of [text] (not truncated). */
    fun tokenize(text: String): List<String> = preTokenize(Text.normalize(text)).flatMap { wordPieces(it) }

    /** Token ids of [text], cut to [maxTokens]. */
    fun encode(text: String): Encoding {
        val toks = ArrayList<String>()
        for (w in preTokenize(Text.normalize(text))) {
            toks.addAll(wordPieces(w))
            if (toks.size > maxTokens) break
        }
        val truncated = toks.size > maxTokens
        val kept = if (truncated) toks.subList(0, maxTokens).toList() else toks
        return Encoding(IntArray(kept.size) { index.getValue(kept[it]) }, kept, truncated)
    }

    /** The smallest bucket that holds [nTokens] tokens (the largest if none does). */
    fun bucketFor(nTokens: Int): Int {
        for (b in buckets) if (nTokens <= b) return b
        return maxTokens
    }

    companion object {
        const val FORMAT = "taste2vec.wordpiece/1"
        const val PAD = "[PAD]"
        const val UNK = "[UNK]"

        /**
         * Rule 2: a maximal run of Latin characters is a word, a maximal run of Hangul is a word, any other
         * non-whitespace code point is a word of its own; whitespace (Python's set) separates.
         */
        @JvmStatic
        fun preTokenize(text: String): List<String> {
            val words = ArrayList<String>()
            val cps = Text.codePoints(text)
            var start = 0
            var kind = 0
            for (i in cps.indices) {
                val cp = cps[i]
                val k = when {
                    Text.isSpace(cp) -> 0
                    Text.isLatin(cp) -> 1
                    Text.isHangul(cp) -> 2
                    else -> 3
                }
                if (k != kind || k == 3) {
                    if (kind != 0) words.add(String(cps, start, i - start))
                    start = i
                    kind = k
                }
            }
            if (kind != 0) words.add(String(cps, start, cps.size - start))
            return words
        }

        /** Reads `tokenizer.json`. */
        @JvmStatic
        fun parse(text: String): WordPieceTokenizer {
            val d = Json.parse(text).obj("tokenizer")
            if (d["format"] != FORMAT) throw SpecException("unknown tokenizer format '${d["format"]}', expected $FORMAT")
            val b = d["buckets"].list("buckets")
            return WordPieceTokenizer(d["vocab"].list("vocab").map { it.str("vocab entry") },
                                      IntArray(b.size) { b[it].int("bucket") },
                                      d["continuation_prefix"].str("continuation_prefix"),
                                      d["max_word_chars"].int("max_word_chars"), d["version"].str("version"))
        }
    }
}
