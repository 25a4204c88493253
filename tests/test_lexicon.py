"""Sensory lexicon: built from the wheel, bilingual, negation, intensity, typos."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taste2vec.lexicon import normalize_text, osa_distance, tokenize


def _hits(lexicon, text):
    return {lexicon.nodes[m.node].path: m.weight for m in lexicon.match(text).matches}


def test_every_node_has_a_korean_name_and_three_tiers(lexicon):
    assert lexicon.dim == len(lexicon.nodes) > 100
    assert all(n.ko for n in lexicon.nodes)
    assert {n.tier for n in lexicon.nodes} == {"category", "subcategory", "attribute"}
    wheel = [n for n in lexicon.nodes if n.source == "wheel"]
    assert sum(n.tier == "category" for n in wheel) == 9


def test_english_phrases_plurals_and_longest_match(lexicon):
    hits = _hits(lexicon, "Dark chocolate, raspberries and green apple.")
    assert hits == {"Nutty/Cocoa > Cocoa > Dark Chocolate": 1.0, "Fruity > Berry > Raspberry": 1.0,
                    "Fruity > Other Fruit > Apple": 1.0}


def test_korean_terms_with_particles(lexicon):
    hits = _hits(lexicon, "초콜릿향이 나고 자몽의 산미가 좋아요")
    assert "Nutty/Cocoa > Cocoa > Chocolate" in hits
    assert "Fruity > Citrus Fruit > Grapefruit" in hits
    assert "Sour/Fermented" in hits


def test_mixed_language_without_spaces(lexicon):
    hits = _hits(lexicon, "산미가bright하고 jasmine 향")
    assert hits["Floral > Floral > Jasmine"] == 1.0
    assert "Sour/Fermented" in hits


@pytest.mark.parametrize("text, path", [
    ("no bitterness at all", "Other > Chemical > Bitter"),
    ("without any smoky notes", "Roasted > Burnt > Smoky"),
    ("쓴맛 없는 커피", "Other > Chemical > Bitter"),
    ("쓴맛이 전혀 없고", "Other > Chemical > Bitter"),
    ("쓴맛없는", "Other > Chemical > Bitter"),
    ("안 쓰고 달아요", "Other > Chemical > Bitter"),
])
def test_negation_en_and_ko(lexicon, text, path):
    assert _hits(lexicon, text)[path] == -1.0


def test_negation_stops_at_clause_break(lexicon):
    hits = _hits(lexicon, "no bitterness, but smoky")
    assert hits["Other > Chemical > Bitter"] == -1.0
    assert hits["Roasted > Burnt > Smoky"] == 1.0


@pytest.mark.parametrize("text, path, weight", [
    ("light jasmine", "Floral > Floral > Jasmine", 0.5),
    ("very strong caramel", "Sweet > Brown Sugar > Caramelized", 1.5),
    ("은은한 자스민", "Floral > Floral > Jasmine", 0.5),
    ("강한 초콜릿", "Nutty/Cocoa > Cocoa > Chocolate", 1.5),
    ("산미가 강하고", "Sour/Fermented", 1.5),
    ("단맛이 약한 편", "Sweet", 0.5),
])
def test_intensity_words(lexicon, text, path, weight):
    assert _hits(lexicon, text)[path] == weight


def test_korean_after_word_binds_to_the_term_before_it(lexicon):
    hits = _hits(lexicon, "산미가 강하고 초콜릿향")
    assert hits["Sour/Fermented"] == 1.5
    assert hits["Nutty/Cocoa > Cocoa > Chocolate"] == 1.0


def test_listed_misspellings_and_fuzzy_typos(lexicon):
    assert "Spices > Brown Spice > Cinnamon" in _hits(lexicon, "cinammon")  # listed
    assert "Nutty/Cocoa > Cocoa > Chocolate" in _hits(lexicon, "쵸콜릿")  # listed Korean
    m = lexicon.match("blueberyy pineappel")  # not listed: fuzzy, OSA distance 1
    assert {lexicon.nodes[x.node].name for x in m.matches} == {"Blueberry", "Pineapple"}
    assert all(x.fuzzy for x in m.matches)


def test_fuzzy_does_not_turn_common_words_into_attributes(lexicon):
    assert _hits(lexicon, "better than the last bag, buttery") == {"Mouthfeel > Creamy": 1.0}
    assert lexicon.match("a nice coffee").matches == ()


def test_vector_propagates_to_ancestors_and_is_clipped(lexicon):
    v = lexicon.vector("raspberry")
    leaf = lexicon.node_by_path("Fruity > Berry > Raspberry").index
    sub = lexicon.node_by_path("Fruity > Berry").index
    cat = lexicon.node_by_path("Fruity").index
    assert (v[leaf], v[sub], v[cat]) == (1.0, 0.5, 0.25)
    assert np.count_nonzero(v) == 3
    v = lexicon.vector("raspberry raspberry raspberry raspberry")
    assert v[leaf] == lexicon.clip and v.dtype == np.float32


def test_tokenizer_and_distance_basics():
    toks = tokenize(normalize_text("Ｃｈｏｃｏ, 산미가! isn't"), frozenset())
    assert [t.text for t in toks] == ["choco", "산미가", "isn't"]
    assert [t.clause for t in toks] == [0, 1, 2]
    assert osa_distance("caramel", "caramle") == 1 and osa_distance("abc", "xyz") == 3


def _reference_tokenize(text: str, breaks: frozenset[str]) -> list[tuple]:
    """Rule 2 written plainly: tokens by the documented regex, a new clause after punctuation or a break word."""
    latin_or_hangul = re.compile(r"[a-z0-9\u00c0-\u024f]+(?:'[a-z]+)?|[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]+")
    out, clause, prev_end = [], 0, 0
    for m in latin_or_hangul.finditer(text):
        if out and any(c in ".,;:!?()[]{}\n·…" for c in text[prev_end:m.start()]):
            clause += 1
        if m.group() in breaks:
            clause += 1
        out.append((m.group(), m.start(), m.end(), clause, "\uac00" <= m.group()[0] <= "\ud7a3"
                    or "\u1100" <= m.group()[0] <= "\u11ff" or "\u3130" <= m.group()[0] <= "\u318f"))
        prev_end = m.end()
    return out


def test_fast_tokenizer_equals_the_plain_rule(lexicon):
    rng = random.Random(7)
    pieces = ["bright", "but", "하지만", "산미가", "isn't", "café", "no", "42", "tea-like", "jasmine's", "x"]
    seps = [" ", ", ", ". ", "!", "(", ")", "\n", "·", "…", "-", "'", "  ", ";", "]"]
    for _ in range(3000):
        text = "".join(rng.choice(seps) * rng.randint(0, 1) + rng.choice(pieces) + rng.choice(seps)
                       for _ in range(rng.randint(0, 12)))
        got = [tuple(t) for t in tokenize(text, lexicon.clause_breaks)]
        assert got == _reference_tokenize(text, lexicon.clause_breaks), text


def test_top_attributes_skip_ancestors_of_kept_nodes(lexicon):
    v = lexicon.vector("raspberry, strong jasmine")
    assert np.count_nonzero(v > 0) == 6  # two leaves, their subcategories and categories
    # the ancestors (0.75, 0.5, 0.375, 0.25) are left out: their weight came from a kept descendant
    assert lexicon.top_attributes(v, k=8) == {"Floral > Floral > Jasmine": 1.5, "Fruity > Berry > Raspberry": 1.0}
    assert lexicon.top_attributes(v, k=1) == {"Floral > Floral > Jasmine": 1.5}


def test_matching_is_deterministic(lexicon):
    text = "very bright acidity, 은은한 꽃향, no smoke, cinammon"
    a, b = lexicon.match(text), lexicon.match(text)
    assert a.matches == b.matches and np.array_equal(a.vector, b.vector)


def test_builder_refuses_missing_nodes_and_collisions():
    from taste2vec_reference.lexicon_build import LexiconBuildError, build_lexicon

    wheel = {"name": "tiny", "wheel": {"Fruity": {"Berry": ["Raspberry"]}, "Sweet": {"Honey": []}}}
    base = {"version": "1.0.0", "negators": [], "intensifiers": [], "clause_breaks": [], "ko_particles": [],
            "fuzzy_block": [], "matching": {}, "nodes": {
                "Fruity": {"ko": ["과일"]}, "Fruity > Berry": {"ko": ["베리"]},
                "Fruity > Berry > Raspberry": {"ko": ["라즈베리"], "typo": ["rasberry"]},
                "Sweet": {"ko": ["단맛"]}, "Sweet > Honey": {"ko": ["꿀"]}}}
    doc = build_lexicon(wheel, base)
    assert doc["dim"] == 5 and [n["path"] for n in doc["nodes"]][:3] == ["Fruity", "Fruity > Berry",
                                                                        "Fruity > Berry > Raspberry"]
    missing = json.loads(json.dumps(base))
    del missing["nodes"]["Sweet > Honey"]
    with pytest.raises(LexiconBuildError, match="lacks wheel nodes"):
        build_lexicon(wheel, missing)
    clash = json.loads(json.dumps(base))
    clash["nodes"]["Sweet"]["en"] = ["raspberry"]
    with pytest.raises(LexiconBuildError, match="maps to"):
        build_lexicon(wheel, clash)


def test_shipped_lexicon_equals_a_rebuild_from_the_wheel(tmp_path):
    from taste2vec_reference.lexicon_build import LEXICON_OUT, build_lexicon_file
    from taste2vec_reference.paths import data_root

    wheel = data_root() / "flavor_wheel" / "flavor_wheel.json"
    if not wheel.exists():
        pytest.skip("shared flavour wheel not available")
    out, _ = build_lexicon_file(tmp_path / "lex.json", wheel)
    assert out.read_bytes() == LEXICON_OUT.read_bytes()


# --- the chunked scan (text_chunks + per-chunk memos) reads text exactly as the character-level rules do ---
_SCAN_TEXT = st.lists(st.sampled_from(list("ab'z09 é가힣ᄀ.,;:!?()[]{}\n·…\t\u3000\u2028-&🫐") +
                                      ["but ", "하지만 ", "no ", "not ", "very ", "chocolate", "dark ", "초콜릿", "안 ",
                                       "없는", "raspberries"]), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_SCAN_TEXT)
def test_chunked_token_scan_equals_tokenize(text):
    from taste2vec import SensoryLexicon
    from taste2vec.lexicon import text_chunks

    lex = SensoryLexicon.default()
    norm = normalize_text(text)
    tokens = tokenize(norm, lex.clause_breaks)
    texts, clauses, words = lex._token_texts(text_chunks(norm))
    assert (texts, clauses) == ([t.text for t in tokens], [t.clause for t in tokens])
    assert [w.hangul for w in words] == [t.hangul for t in tokens]
    assert np.array_equal(lex.vector(text), lex.match(text).vector)


def test_chunk_memos_stay_bounded(lexicon, monkeypatch):
    import taste2vec.lexicon as lexmod
    from taste2vec.tokenizer import WordPieceTokenizer

    monkeypatch.setattr(lexmod, "CHUNK_MEMO_ENTRIES", 50)
    fresh = type(lexicon)(lexicon.doc)
    tok = WordPieceTokenizer(vocab=["[PAD]", "[UNK]"] + list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in
                                                                                           "abcdefghijklmnopqrstuvwxyz"])
    words = [f"w{i:04d}x" for i in range(300)] + ["y" * 60]
    for w in words:
        fresh.vector(w)
        tok.encode(w)
    assert len(fresh._chunks) == 50 and len(tok._chunks) == 50
    assert "y" * 60 not in fresh._chunks  # longer than CHUNK_MEMO_CHARS: scanned, not kept
    assert tok.encode("w0299x").ids == tok.encode_normalized("w0299x").ids  # past the bound: same result, unmemoized
