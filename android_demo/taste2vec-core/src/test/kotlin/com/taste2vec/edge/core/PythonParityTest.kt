package com.taste2vec.edge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The port against the Python SDK: goldens that `make test` regenerates with the Python SDK before these tests
 * run (`taste2vec golden --port-dir build/golden`). Token ids and every input tensor must be identical, profile
 * maths within 1e-5 (the golden's tolerance), picks and explanations identical.
 */
class PythonParityTest {
    private val bundle = Fixtures.bundle
    private val pre = bundle.preprocessor()

    @Test
    fun sampleRecordsGiveIdenticalModelInputs() {
        val doc = Fixtures.golden("records.json")
        assertEquals("taste2vec.golden/1", doc["format"])
        assertEquals("golden is for another model", bundle.modelId, doc["model"])
        assertEquals("golden is for other model bytes", ModelBundle.sha256(bundle.modelBytes()), doc["model_sha256"])
        val cases = doc["cases"].list("cases").map { it.obj("case") }
        assertTrue(cases.size >= 12)
        val mm = Mismatches("records.json")
        for (c in cases) {
            val name = c["name"]
            val inputs = pre.fromJson(c["record"])
            val rec = TastingRecord.fromJson(bundle.spec, c["record"])
            mm.check(Text.normalize(rec.notes) == c["normalized_notes"]) { "$name: normalized notes differ" }
            mm.check(inputs.tokens == c["tokens"]) { "$name: tokens ${inputs.tokens} != ${c["tokens"]}" }
            mm.check(inputs.bucket == c["bucket"].int("bucket")) { "$name: bucket ${inputs.bucket} != ${c["bucket"]}" }
            val t = c["inputs"].obj("inputs")
            fun data(k: String) = t[k].obj(k)["data"].list(k)
            fun shape(k: String) = t[k].obj(k)["shape"].list(k).ints()
            mm.check(inputs.tokenIds.contentEquals(data("token_ids").ints())) { "$name: token_ids differ" }
            val floats = mapOf("lexicon" to inputs.lexicon, "metrics" to inputs.metrics,
                               "metrics_mask" to inputs.metricsMask, "context" to inputs.context,
                               "context_mask" to inputs.contextMask)
            for ((k, v) in floats) mm.check(v.contentEquals(data(k).floats())) { "$name: $k differs" }
            for ((k, s) in inputs.shapes()) mm.check(s.contentEquals(shape(k))) { "$name: $k shape differs" }
            assertEquals(ModelInputs.INPUT_NAMES.toSet(), t.keys)
        }
        mm.assertNone()
    }

    @Test
    fun thousandsOfNotesTokenizeAndMatchIdentically() {
        val doc = Fixtures.golden("texts.json")
        assertEquals("taste2vec.golden-text/1", doc["format"])
        assertEquals(bundle.tokenizer.version, doc["tokenizer_version"])
        assertEquals(bundle.lexicon.version, doc["lexicon_version"])
        val cases = doc["cases"].list("cases").map { it.obj("case") }
        assertTrue("expected thousands of texts, got ${cases.size}", cases.size > 1000)
        val tok = bundle.tokenizer
        val lex = bundle.lexicon
        val mm = Mismatches("texts.json")
        for (c in cases) {
            val text = c["text"] as String
            val q = Json.write(text)
            val norm = Text.normalize(text)
            mm.check(norm == c["normalized"]) { "$q: normalized ${Json.write(norm)} != ${Json.write(c["normalized"])}" }
            val enc = tok.encode(norm)
            mm.check(enc.tokens == c["tokens"]) { "$q: tokens ${enc.tokens} != ${c["tokens"]}" }
            mm.check(enc.ids.contentEquals(c["ids"].list("ids").ints())) { "$q: ids differ" }
            mm.check(enc.truncated == c["truncated"]) { "$q: truncated ${enc.truncated}" }
            mm.check(tok.bucketFor(enc.ids.size) == c["bucket"].int("bucket")) { "$q: bucket differs" }
            val m = lex.match(norm)
            mm.check(m.tokens.map { it.text } == c["lexicon_tokens"]) { "$q: lexicon tokens ${m.tokens.map { it.text }} != ${c["lexicon_tokens"]}" }
            val want = c["matches"].list("matches").map { it.obj("match") }
            val got = m.matches.map {
                mapOf("term" to it.term, "node" to it.node.toDouble(), "start" to it.start.toDouble(),
                      "end" to it.end.toDouble(), "weight" to it.weight, "negated" to it.negated, "fuzzy" to it.fuzzy)
            }
            mm.check(got == want) { "$q: matches\n      kotlin $got\n      python $want" }
            mm.check(m.vector.contentEquals(c["lexicon"].list("lexicon").floats())) { "$q: lexicon vector differs" }
            val attrs = lex.topAttributes(m.vector)
            val wantAttrs = c["attributes"].list("attributes").map { it.list("attribute") }
            mm.check(attrs.keys.toList() == wantAttrs.map { it[0] } &&
                     attrs.values.zip(wantAttrs).all { (g, w) -> Math.abs(g - (w[1] as Double)) <= 1e-4 }) {
                "$q: attributes $attrs != $wantAttrs"
            }
        }
        mm.assertNone()
    }

    @Test
    fun profileUpdatesScoresAndPicksMatch() {
        val doc = Fixtures.golden("profile.json")
        assertEquals("taste2vec.golden-profile/1", doc["format"])
        val catalog = Catalog.parse(Fixtures.catalogFile.readText())
        assertEquals(catalog.modelVersion, doc["catalog_model"])
        val tol = doc["tolerance"].num("tolerance")
        val cfg = doc["profile"].obj("profile")
        val profile = TasteProfile(cfg["dim"].int("dim"), null, cfg["buffer_size"].int("buffer_size"),
                                   cfg["ridge"].num("ridge"), cfg["fold_rate"].num("fold_rate"))
        val mm = Mismatches("profile.json")
        fun close(a: FloatArray, b: DoubleArray) = a.size == b.size && a.indices.all { Math.abs(a[it] - b[it]) <= tol }
        var worst = 0.0
        doc["events"].list("events").forEachIndexed { i, e ->
            val ev = e.obj("event")
            val id = ev["item_id"].str("item_id")
            val item = catalog.item(id)
            val emb = catalog.embedding(id)
            when (ev["kind"]) {
                "like" -> profile.like(emb, id, item.attributes)
                "dislike" -> profile.dislike(emb, id, item.attributes)
                else -> profile.rate(emb, ev["rating"].num("rating"), id, item.attributes)
            }
            val want = ev["preference"].list("preference").doubles()
            val got = profile.preference
            for (d in want.indices) worst = Math.max(worst, Math.abs(got[d] - want[d]))
            mm.check(close(got, want)) { "event $i: preference differs" }
        }
        println("profile: ${profile.nEvents} events, buffer ${profile.buffer.size}, max |preference diff| $worst")
        val fin = doc["final"].obj("final")
        mm.check(close(profile.prior.map { it.toFloat() }.toFloatArray(), fin["prior"].list("prior").doubles())) { "prior differs" }
        val scores = FloatArray(catalog.size) { profile.score(catalog.embeddings[it]) }
        mm.check(close(scores, fin["scores"].list("scores").doubles())) { "scores differ" }
        val topWant = fin["top_attributes"].list("top").map { it.list("pair") }
        val topGot = profile.topAttributes(5)
        mm.check(topGot.map { it.first } == topWant.map { it[0] }) { "top attributes ${topGot.map { it.first }} != ${topWant.map { it[0] }}" }
        for (r in doc["recommend"].list("recommend")) {
            val q = r.obj("query")
            val picks = Curation.recommend(profile, catalog, q["k"].int("k"), q["exclude"].list("exclude").map { it as String }.toSet(),
                                           q["diversity"].num("diversity"))
            val want = q["picks"].list("picks").map { it.obj("pick") }
            mm.check(picks.map { it.item.id } == want.map { it["id"] }) { "recommend $q: ids ${picks.map { it.item.id }}" }
            for ((p, w) in picks.zip(want)) {
                mm.check(Math.abs(p.score - w["score"].num("score")) <= tol) { "recommend: score of ${p.item.id}" }
                mm.check(p.because == w["because"]) { "recommend: because ${p.because} != ${w["because"]}" }
                mm.check(p.similarTo == w["similar_to"]) { "recommend: similar_to ${p.similarTo} != ${w["similar_to"]}" }
                mm.check(p.explanation == w["explanation"]) { "recommend: '${p.explanation}' != '${w["explanation"]}'" }
            }
        }
        val empty = Curation.recommend(TasteProfile(profile.dim), catalog, 5, emptySet(), 0.5)
        val emptyWant = doc["recommend_empty_profile"].list("empty").map { it.obj("pick") }
        mm.check(empty.map { it.item.id } == emptyWant.map { it["id"] }) { "empty-profile picks differ" }
        mm.check(empty.map { it.explanation } == emptyWant.map { it["explanation"] }) { "empty-profile explanations differ" }
        for (c in doc["cosine"].list("cosine")) {
            val p = c.obj("pair")
            val v = Embeddings.cosineSimilarity(catalog.embedding(p["a"] as String), catalog.embedding(p["b"] as String))
            mm.check(Math.abs(v - p["value"].num("value")) <= tol) { "cosine ${p["a"]} ${p["b"]}: $v" }
        }
        mm.assertNone()
    }
}
