"""The synthetic taste world: deterministic, streaming, split by coffee, bilingual."""

from __future__ import annotations

import itertools
import re

import numpy as np

from taste2vec_reference.synthetic import TasteWorld, WorldConfig

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_same_seed_same_world_different_seed_different(lexicon):
    a = TasteWorld(WorldConfig(seed=3, n_coffees=60), lexicon)
    b = TasteWorld(WorldConfig(seed=3, n_coffees=60), lexicon)
    c = TasteWorld(WorldConfig(seed=4, n_coffees=60), lexicon)
    ra = [r.record for r in a.iter_records("train", n=25)]
    assert ra == [r.record for r in b.iter_records("train", n=25)]
    assert ra != [r.record for r in c.iter_records("train", n=25)]
    assert np.array_equal(a.coffee(5).profile, b.coffee(5).profile)
    # random access equals the stream: record k of a coffee does not depend on what was generated before
    assert a.record(7, 3).record == TasteWorld(WorldConfig(seed=3, n_coffees=60), lexicon).record(7, 3).record


def test_splits_partition_coffees(lexicon):
    w = TasteWorld(WorldConfig(n_coffees=300), lexicon)
    ids = {s: {c.id for c in w.coffees(s)} for s in ("train", "val", "test")}
    assert sum(len(v) for v in ids.values()) == 300
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["val"]) and not (ids["val"] & ids["test"])
    assert all(r.coffee_id in ids["test"] for r in w.iter_records("test", n=40))


def test_stream_is_lazy_and_records_are_valid(lexicon):
    w = TasteWorld(WorldConfig(n_coffees=50), lexicon)
    first = list(itertools.islice(w.iter_records("train"), 5))  # infinite stream, take 5
    assert len(first) == 5
    assert list(itertools.islice(w.iter_records("train", start=3), 2))[0].record == first[3].record


def test_languages_negation_and_truth(lexicon):
    w = TasteWorld(WorldConfig(n_coffees=100), lexicon)
    en = w.record(1, 0, lang="en").record.notes
    ko = w.record(1, 0, lang="ko").record.notes
    assert not HANGUL.search(en) and HANGUL.search(ko)
    # notes mention the coffee's own attributes: the lexicon finds profile nodes in most tastings
    hits = 0
    for k in range(20):
        r = w.record(2, k)
        v = lexicon.vector(r.record.notes)
        hits += bool((v > 0)[w.coffee(2).profile > 0].any())
    assert hits >= 16
    negated = sum(any(m.negated for m in lexicon.match(w.record(c, 0).record.notes).matches) for c in range(60))
    assert negated > 5
    c = w.coffee(0)
    assert set(c.truth) >= {"acidity", "bitterness", "body"} and all(0 <= v <= 10 for v in c.truth.values())


def test_feedback_follows_preferences(lexicon):
    w = TasteWorld(WorldConfig(n_coffees=200, n_users=20), lexicon)
    liked, disliked = w.feedback(3, "train")
    assert liked and disliked and not set(liked) & set(disliked)
    u = w.user(3)
    assert np.mean([w.utility(u, w.coffee(c)) for c in liked]) > np.mean([w.utility(u, w.coffee(c)) for c in disliked])
