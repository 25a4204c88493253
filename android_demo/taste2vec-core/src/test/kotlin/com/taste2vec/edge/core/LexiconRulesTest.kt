package com.taste2vec.edge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The matching rules (sensory_lexicon.json + the Python module docs), spelled out on small examples. */
class LexiconRulesTest {
    private val lex = Fixtures.bundle.lexicon
    private fun node(path: String) = lex.nodes.first { it.path == path }.index
    private fun weights(text: String) = lex.match(text).matches.associate { it.term to it.weight }

    @Test
    fun preTokenizerSplitsScriptsAndPunctuationLikePython() {
        assertEquals(listOf("bright", ",", "자스민향이", "!", "ok2"), WordPieceTokenizer.preTokenize("bright,자스민향이!  ok2"))
        assertEquals(listOf("café", "밝음"), WordPieceTokenizer.preTokenize("café밝음"))
        assertEquals(listOf("a", "b"), WordPieceTokenizer.preTokenize("a\u0085b"))  // Python whitespace, not Java's
        assertEquals(emptyList<String>(), WordPieceTokenizer.preTokenize("   "))
    }

    @Test
    fun negationIntensityAndClauses() {
        assertEquals(-1.0, weights("no bitterness")["bitterness"] ?: weights("no bitterness").values.first(), 0.0)
        val w = weights("slightly sweet")
        assertTrue(w.toString(), w.values.contains(0.5))
        // a clause break stops the negator: "not bitter, but sweet" negates only bitter
        val m = lex.match("not bitter, but sweet").matches
        assertEquals(listOf(true, false), m.map { it.negated })
    }

    @Test
    fun koreanParticlesTyposAndAncestorDecay() {
        val ko = lex.match("산미가 좋다").matches
        assertEquals(listOf("산미"), ko.map { it.term })
        val typo = lex.match("bergamont").matches.single()
        assertTrue(typo.fuzzy)
        val v = lex.vector("jasmine")
        val j = lex.match("jasmine").matches.single().node
        val parent = lex.nodes[j].parent!!
        assertEquals(v[j] * 0.5f, v[parent], 1e-7f)
        assertTrue(lex.nodes.indices.all { v[it] >= -2f && v[it] <= 2f })
        assertEquals(node(lex.nodes[j].path), j)
    }
}
