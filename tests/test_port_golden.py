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


def test_e2e_lines_cover_languages_buckets_and_every_field_and_are_deterministic(tmp_path):
    with Embedder.create_default() as emb:
        a = write_port_goldens(emb, tmp_path / "a", n_random=50, n_e2e=1000)
        b = write_port_goldens(emb, tmp_path / "b", n_random=50, n_e2e=1000)
        spec = emb.bundle.spec
    for name in ("e2e_records.jsonl", "e2e_expected.jsonl"):
        assert a[name].read_bytes() == b[name].read_bytes(), name
    lines = a["e2e_records.jsonl"].read_text(encoding="utf-8").splitlines()
    results = [json.loads(x) for x in a["e2e_expected.jsonl"].read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(results)
    good = [(json.loads(t), r) for t, r in zip(lines, results) if "embedding" in r]
    bad = [r["error"] for r in results if "error" in r]
    assert len(good) >= 1000 and len(bad) >= 200
    assert {r["bucket"] for _, r in good} == set(emb.bundle.tokenizer.buckets)
    notes = [rec.get("notes") or "" for rec, _ in good]
    hangul = [any("\uac00" <= c <= "\ud7a3" for c in n) for n in notes]
    latin = [any("a" <= c <= "z" for c in n.lower()) for n in notes]
    assert sum(h and not la for h, la in zip(hangul, latin)) > 50  # Korean only
    assert sum(la and not h for h, la in zip(hangul, latin)) > 50  # English only
    assert sum(h and la for h, la in zip(hangul, latin)) > 50  # mixed
    assert any(len(n) > spec.notes_max_chars for n in notes)  # cut, still embedded
    assert any(not rec.get("metrics") for rec, _ in good) and any(not rec.get("context") for rec, _ in good)
    assert any(len(rec.get("context") or ()) > spec.context_max_steps for rec, _ in good)
    assert {e["type"] for e in bad} >= {"InvalidTypeError", "NonFiniteValueError", "OutOfRangeError",
                                        "UnknownFieldError", "UnknownCategoryError"}
    fields = {e["field"].split(".")[0].split("[")[0] + "." + e["field"].rsplit(".", 1)[-1] for e in bad if e["field"]}
    assert {f"metrics.{m}" for m in spec.metric_names} <= fields
    assert {f"context.{f.name}" for f in spec.context_fields} <= fields
