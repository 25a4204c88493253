package com.taste2vec.edge.core

import java.util.regex.Pattern

/** A flavour-wheel node: `Fruity > Berry > Blueberry`, its Korean name, tier and parent index. */
class LexiconNode(val index: Int, val path: String, val name: String, val ko: String, val tier: String, val parent: Int?)

/** A term naming a node (space-separated tokens). */
class Term(val text: String, val tokens: List<String>, val node: Int, val lang: String, val kind: String)

/** A token of normalized text: its text, UTF-16 span, clause number and whether it is Hangul. */
class LexToken(val text: String, val start: Int, val end: Int, val clause: Int, val hangul: Boolean)

/** One term found in the notes: token span [start, end), signed weight, and how it was found. */
class LexiconMatch(val term: String, val node: Int, val start: Int, val end: Int, val weight: Double,
                   val negated: Boolean, val intensity: Double, val fuzzy: Boolean)

/** The attribute-weight vector of one text and the matches and tokens behind it. */
class LexiconResult(val vector: FloatArray, val matches: List<LexiconMatch>, val tokens: List<LexToken>)

/**
 * The bilingual sensory lexicon (`sensory_lexicon.json`) and its deterministic matcher: the Python SDK's
 * `taste2vec.lexicon.SensoryLexicon`, rule for rule (that module's docs are the spec): tokens and clauses,
 * longest-first term matching with English plurals and Korean particles, one-edit typo matching, negation,
 * intensity words, ancestor decay and clipping. Thread-safe after construction (the memo tables are synchronized).
 */
class SensoryLexicon(doc: Map<String, Any?>) {
    val version: String
    val nodes: List<LexiconNode>
    val terms: List<Term>
    private val decay: Double
    private val clip: Double
    private val negWindow: Int
    private val modWindow: Int
    private val fuzzyMinLen: Int
    private val fuzzyMax: Int
    private val clauseBreaks: Set<String>
    private val particles: Set<String>
    private val fuzzyBlock: Set<String>
    private val negBefore: Set<String>
    private val negAfter: List<String>
    private val modBefore: List<Pair<String, Double>>
    private val modAfter: List<Pair<String, Double>>
    private val byFirst = HashMap<String, MutableList<Term>>()
    private val fuzzyTerms: List<Term>
    private val ancestors: List<IntArray>
    private val depth: IntArray  // tier of each node: its number of ancestors
    private val fuzzyCache = java.util.Collections.synchronizedMap(HashMap<String, Term?>())
    private val candidateCache = java.util.Collections.synchronizedMap(HashMap<String, List<Term>>())

    init {
        if (doc["lexicon"] != "taste2vec.sensory_lexicon") throw SpecException("not a taste2vec sensory lexicon (key 'lexicon')")
        version = doc["version"].str("version")
        if (version.split(".")[0] != "1") throw SpecException("unsupported lexicon version '$version' (this module reads 1.x)")
        nodes = doc["nodes"].list("nodes").map {
            val n = it.obj("node")
            LexiconNode(n["index"].int("index"), n["path"].str("path"), n["name"].str("name"), (n["ko"] as? String) ?: "",
                        n["tier"].str("tier"), (n["parent"] as? Double)?.toInt())
        }
        if (nodes.withIndex().any { (i, n) -> n.index != i } || (doc["dim"] as? Double)?.toInt() != nodes.size) {
            throw SpecException("lexicon nodes must be indexed 0..dim-1")
        }
        val m = doc["matching"].obj("matching")
        decay = m["ancestor_decay"].num("ancestor_decay")
        clip = m["clip"].num("clip")
        negWindow = m["negation_window"].int("negation_window")
        modWindow = m["modifier_window"].int("modifier_window")
        fuzzyMinLen = m["fuzzy_min_len"].int("fuzzy_min_len")
        fuzzyMax = m["fuzzy_max_distance"].int("fuzzy_max_distance")
        clauseBreaks = doc["clause_breaks"].list("clause_breaks").map { it.str("clause break") }.toSet()
        particles = doc["ko_particles"].list("ko_particles").map { it.str("particle") }.toSet()
        fuzzyBlock = doc["fuzzy_block"].list("fuzzy_block").map { it.str("fuzzy_block") }.toSet()
        val negators = doc["negators"].list("negators").map { it.obj("negator") }
        negBefore = negators.filter { it["position"] == "before" || it["position"] == "both" }.map { it["text"].str("text") }.toSet()
        negAfter = negators.filter { it["position"] == "after" || it["position"] == "both" }.map { it["text"].str("text") }
        val mods = doc["intensifiers"].list("intensifiers").map { it.obj("intensifier") }
        modBefore = mods.filter { it["position"] == "before" || it["position"] == "both" }
            .map { Pair(it["text"].str("text"), it["weight"].num("weight")) }
        modAfter = mods.filter { it["position"] == "after" || it["position"] == "both" }
            .map { Pair(it["text"].str("text"), it["weight"].num("weight")) }
        terms = doc["terms"].list("terms").map {
            val t = it.obj("term")
            val text = t["text"].str("text")
            Term(text, text.split(" "), t["node"].int("node"), t["lang"].str("lang"), t["kind"].str("kind"))
        }
        for (t in terms) {
            val first = t.tokens[0]
            val key = if (isHangulToken(first)) first.substring(0, 1) else first
            byFirst.getOrPut(key) { ArrayList() }.add(t)
        }
        for (lst in byFirst.values) lst.sortWith(TERM_ORDER)
        fuzzyTerms = terms.filter { it.tokens.size == 1 && !isHangulToken(it.text) && Text.length(it.text) >= fuzzyMinLen }
        ancestors = nodes.map { n ->
            val chain = ArrayList<Int>()
            var p = n.parent
            while (p != null) {
                chain.add(p)
                p = nodes[p].parent
            }
            chain.toIntArray()
        }
        depth = IntArray(nodes.size) { ancestors[it].size }
    }

    /** Length of the attribute-weight vector (number of nodes). */
    val dim: Int get() = nodes.size

    /** Matches [notes] (normalized here) and returns the attribute-weight vector with the matches behind it. */
    fun match(notes: String): LexiconResult {
        val tokens = tokenize(Text.normalize(notes), clauseBreaks)
        class Span(val s: Int, val e: Int, val term: Term, val fuzzy: Boolean)
        val spans = ArrayList<Span>()
        var i = 0
        while (i < tokens.size) {
            val term = findTerm(tokens, i)
            if (term != null) {
                spans.add(Span(i, i + term.tokens.size, term, false))
                i += term.tokens.size
                continue
            }
            val fz = fuzzy(tokens[i])
            if (fz != null) spans.add(Span(i, i + 1, fz, true))
            i++
        }
        val inMatch = BooleanArray(tokens.size)
        for (sp in spans) for (k in sp.s until sp.e) inMatch[k] = true
        val vec = DoubleArray(dim)
        val matches = ArrayList<LexiconMatch>()
        for (sp in spans) {
            val last = tokens[sp.e - 1]
            val lastTermTok = sp.term.tokens[sp.term.tokens.size - 1]
            val rest = if (last.hangul && last.text.startsWith(lastTermTok)) last.text.substring(lastTermTok.length) else ""
            val negated = negated(tokens, sp.s, sp.e, rest, inMatch)
            val intensity = intensity(tokens, sp.s, sp.e, rest, inMatch)
            val w = if (negated) -1.0 else intensity
            vec[sp.term.node] += w
            ancestors[sp.term.node].forEachIndexed { d, anc -> vec[anc] += w * Math.pow(decay, (d + 1).toDouble()) }
            matches.add(LexiconMatch(sp.term.text, sp.term.node, sp.s, sp.e, w, negated, intensity, sp.fuzzy))
        }
        val out = FloatArray(dim) { Math.max(-clip, Math.min(clip, vec[it])).toFloat() }
        return LexiconResult(out, matches, tokens)
    }

    /** Just the float32 attribute-weight vector of [match]. */
    fun vector(notes: String): FloatArray = match(notes).vector

    /**
     * The [k] strongest positive attributes of a lexicon vector (path -> weight rounded to 4 places): strongest
     * first, the more specific node first among equals; a node whose descendant is already kept adds nothing.
     */
    fun topAttributes(vector: FloatArray, k: Int = 8): Map<String, Double> {
        val order = vector.indices.filter { vector[it] > 0f }.sortedWith(Comparator { a, b ->
            when {
                vector[a] != vector[b] -> vector[b].compareTo(vector[a])
                depth[a] != depth[b] -> depth[b] - depth[a]
                else -> a - b
            }
        })
        val kept = ArrayList<Int>()
        for (i in order) {
            if (kept.none { j -> nodes[j].path.startsWith(nodes[i].path + " > ") }) kept.add(i)
            if (kept.size == k) break
        }
        val out = LinkedHashMap<String, Double>()
        for (i in kept) out[nodes[i].path] = Math.round(vector[i].toDouble() * 1e4) / 1e4
        return out
    }

    private fun tokMatches(termTok: String, tok: LexToken, last: Boolean): Boolean {
        if (tok.hangul) {
            if (tok.text == termTok) return true
            if (!last || !tok.text.startsWith(termTok)) return false
            return Text.length(termTok) >= 2 || tok.text.substring(termTok.length) in particles
        }
        if (tok.text == termTok) return true
        return last && termTok in pluralBases(tok.text)
    }

    private fun candidates(tok: LexToken): List<Term> {
        candidateCache[tok.text]?.let { return it }
        val found = findCandidates(tok)
        if (candidateCache.size < 100_000) candidateCache[tok.text] = found
        return found
    }

    private fun findCandidates(tok: LexToken): List<Term> {
        val key = if (tok.hangul) tok.text.substring(0, 1) else tok.text
        val found = ArrayList<Term>(byFirst[key] ?: emptyList<Term>())
        if (!tok.hangul) {
            for (base in pluralBases(tok.text)) found.addAll(byFirst[base] ?: emptyList<Term>())
            found.sortWith(TERM_ORDER)
        }
        return found
    }

    private fun findTerm(tokens: List<LexToken>, i: Int): Term? {
        val tok = tokens[i]
        for (term in candidates(tok)) {
            val n = term.tokens.size
            if (i + n > tokens.size || tokens[i + n - 1].clause != tok.clause) continue
            if ((0 until n).all { j -> tokMatches(term.tokens[j], tokens[i + j], j == n - 1) }) return term
        }
        return null
    }

    private fun fuzzy(tok: LexToken): Term? {
        if (tok.hangul || Text.length(tok.text) < fuzzyMinLen || tok.text in fuzzyBlock) return null
        fuzzyCache[tok.text]?.let { return it }
        if (fuzzyCache.containsKey(tok.text)) return null
        // the single node within fuzzyMax edits, first term of it in lexicon order; none when ambiguous
        val found = LinkedHashMap<Int, Term>()
        val len = Text.length(tok.text)
        for (t in fuzzyTerms) {
            if (Math.abs(Text.length(t.text) - len) <= fuzzyMax && osaDistance(t.text, tok.text) <= fuzzyMax) {
                if (!found.containsKey(t.node)) found[t.node] = t
            }
        }
        val result = if (found.size == 1) found.values.first() else null
        if (fuzzyCache.size < 100_000) fuzzyCache[tok.text] = result
        return result
    }

    private fun afterTokens(tokens: List<LexToken>, e: Int, window: Int, inMatch: BooleanArray): List<LexToken> {
        val clause = tokens[e - 1].clause
        val out = ArrayList<LexToken>()
        for (k in e until Math.min(tokens.size, e + window)) {
            if (tokens[k].clause != clause || inMatch[k]) break
            out.add(tokens[k])
        }
        return out
    }

    private fun negated(tokens: List<LexToken>, s: Int, e: Int, rest: String, inMatch: BooleanArray): Boolean {
        val clause = tokens[s].clause
        var k = s - 1
        while (k > Math.max(-1, s - 1 - negWindow)) {
            if (tokens[k].clause != clause) break
            if (tokens[k].text in negBefore) return true
            k--
        }
        if (rest.isNotEmpty() && negAfter.any { rest.contains(it) }) return true
        for (tok in afterTokens(tokens, e, negWindow, inMatch)) {
            if (negAfter.any { n -> if (tok.hangul) tok.text.startsWith(n) else tok.text == n }) return true
        }
        return false
    }

    private fun intensity(tokens: List<LexToken>, s: Int, e: Int, rest: String, inMatch: BooleanArray): Double {
        val clause = tokens[s].clause
        var k = s - 1
        while (k > Math.max(-1, s - 1 - modWindow)) {
            if (tokens[k].clause != clause || inMatch[k]) break
            if (k > 0 && inMatch[k - 1] && tokens[k - 1].clause == clause) {
                val a = firstWeight(modAfter, tokens[k])
                if (a != null && a != 0.0) break  // a Korean "after" word right behind the previous term is that term's
            }
            val w = firstWeight(modBefore, tokens[k])
            if (w != null) return w
            k--
        }
        if (rest.isNotEmpty()) for ((text, w) in modAfter) if (rest.contains(text)) return w
        for (tok in afterTokens(tokens, e, modWindow, inMatch)) {
            val w = firstWeight(modAfter, tok)
            if (w != null) return w
        }
        return 1.0
    }

    companion object {
        private val TOKEN_RE: Pattern =
            Pattern.compile("[a-z0-9\\u00c0-\\u024f]+(?:'[a-z]+)?|[\\u1100-\\u11ff\\u3130-\\u318f\\uac00-\\ud7a3]+")
        private const val CLAUSE_PUNCT = ".,;:!?()[]{}\n·…"

        // longest first: most tokens, then most characters, then the text
        private val TERM_ORDER = Comparator<Term> { a, b ->
            when {
                a.tokens.size != b.tokens.size -> b.tokens.size - a.tokens.size
                Text.length(a.text) != Text.length(b.text) -> Text.length(b.text) - Text.length(a.text)
                else -> a.text.compareTo(b.text)
            }
        }

        /** Reads `sensory_lexicon.json`. */
        @JvmStatic
        fun parse(text: String): SensoryLexicon = SensoryLexicon(Json.parse(text).obj("lexicon"))

        @JvmStatic
        fun isHangulToken(token: String): Boolean = token.isNotEmpty() && Text.isHangul(token.codePointAt(0))

        /** Rule 2: tokens of normalized text with clause numbers. */
        @JvmStatic
        fun tokenize(normalized: String, clauseBreaks: Set<String> = emptySet()): List<LexToken> {
            val tokens = ArrayList<LexToken>()
            var clause = 0
            var prevEnd = 0
            val m = TOKEN_RE.matcher(normalized)
            while (m.find()) {
                if (tokens.isNotEmpty()) {
                    for (i in prevEnd until m.start()) {
                        if (CLAUSE_PUNCT.indexOf(normalized[i]) >= 0) {
                            clause++
                            break
                        }
                    }
                }
                val text = m.group()
                if (text in clauseBreaks) clause++
                tokens.add(LexToken(text, m.start(), m.end(), clause, isHangulToken(text)))
                prevEnd = m.end()
            }
            return tokens
        }

        /** Rule 3: singular candidates of an English token. */
        @JvmStatic
        fun pluralBases(token: String): List<String> {
            val out = ArrayList<String>(3)
            val n = Text.length(token)
            if (token.endsWith("ies") && n > 4) out.add(token.substring(0, token.length - 3) + "y")
            if (token.endsWith("es") && n > 3) out.add(token.substring(0, token.length - 2))
            if (token.endsWith("s") && n > 2) out.add(token.substring(0, token.length - 1))
            return out
        }

        /** Optimal string alignment distance over code points (Levenshtein plus adjacent transpositions). */
        @JvmStatic
        fun osaDistance(a: String, b: String): Int {
            val x = Text.codePoints(a)
            val y = Text.codePoints(b)
            val d = Array(x.size + 1) { IntArray(y.size + 1) }
            for (i in 0..x.size) d[i][0] = i
            for (j in 0..y.size) d[0][j] = j
            for (i in 1..x.size) {
                for (j in 1..y.size) {
                    val cost = if (x[i - 1] == y[j - 1]) 0 else 1
                    d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost)
                    if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1]) {
                        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
                    }
                }
            }
            return d[x.size][y.size]
        }

        private fun firstWeight(table: List<Pair<String, Double>>, tok: LexToken): Double? {
            for ((text, w) in table) if (tok.text == text || (tok.hangul && tok.text.startsWith(text))) return w
            return null
        }
    }
}
