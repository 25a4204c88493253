"""Goldens for language ports (taste2vec golden --port-dir): formats, coverage and determinism."""

from __future__ import annotations

import json

import numpy as np

from taste2vec import Embedder
from taste2vec.curation import Catalog
from taste2vec.port_golden import EDGE_CASES, make_profile_golden, random_notes, write_port_goldens


def test_port_goldens_cover_every_rule_and_are_deterministic(tmp_path):
    with Embedder.create_default() as emb:
        a = write_port_goldens(emb, tmp_path / "a", n_random=400)
        b = write_port_goldens(emb, tmp_path / "b", n_random=400)
    for name in ("records.json", "texts.json", "profile.json", "rollout.json"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    texts = json.loads(a["texts.json"].read_text(encoding="utf-8"))
    assert texts["format"] == "taste2vec.golden-text/1"
    cases = texts["cases"]
    assert len(cases) == len(EDGE_CASES) + 12 + 400
    matches = [m for c in cases for m in c["matches"]]
    # the random notes reach negation, fuzzy (typo) matches, intensity words and truncation
    assert any(m["negated"] for m in matches) and any(m["fuzzy"] for m in matches)
    assert any(m["weight"] not in (1.0, -1.0) for m in matches)
    assert any(c["truncated"] for c in cases)
    assert all(len(c["lexicon"]) == 116 for c in cases)
    rollout = json.loads(a["rollout.json"].read_text(encoding="utf-8"))
    shares = {v["name"]: v["traffic"] for v in rollout["config"]["variants"]}
    seen = {name: sum(x["variant"] == name for x in rollout["assignments"]) / len(rollout["assignments"]) * 100
            for name in shares}
    assert all(abs(seen[n] - shares[n]) < 2.5 for n in shares), seen


def test_profile_golden_overflows_its_buffer_and_records_every_step():
    cat = Catalog.default()
    doc = make_profile_golden(cat, n_events=20, buffer_size=4)
    assert len(doc["events"]) == 20 and doc["profile"]["buffer_size"] == 4
    assert np.any(np.asarray(doc["final"]["prior"]))  # evicted events were folded into the prior
    assert [len(r["picks"]) for r in doc["recommend"]] == [5, 5, 8]
    assert all(-1.0 - 1e-6 <= c["value"] <= 1.0 + 1e-6 for c in doc["cosine"])


def test_random_notes_are_seeded():
    from taste2vec.lexicon import SensoryLexicon

    lex = SensoryLexicon.default()
    assert random_notes(lex, 50, seed=3) == random_notes(lex, 50, seed=3)
    assert random_notes(lex, 50, seed=3) != random_notes(lex, 50, seed=4)
