"""Feature assembly: layout from the spec, masks (not zeros) for missing values, left-padded context."""

from __future__ import annotations

import numpy as np

from taste2vec import TastingRecord, default_spec
from taste2vec.features import FeatureExtractor, encode_snapshot
from taste2vec.records import ContextSnapshot


def test_shapes_follow_the_spec(lexicon):
    spec = default_spec()
    f = FeatureExtractor(lexicon)(TastingRecord())
    assert f.metrics.shape == f.metrics_mask.shape == (20,)
    assert f.context.shape == (8, spec.context_width) and spec.context_width == len(spec.context_columns())
    assert f.lexicon.shape == (lexicon.dim,)
    assert not f.metrics_mask.any() and not f.context_mask.any() and not f.lexicon.any()


def test_zero_is_not_missing(lexicon):
    ex = FeatureExtractor(lexicon)
    zero = ex(TastingRecord(metrics={"bitterness": 0.0}))
    missing = ex(TastingRecord())
    i = default_spec().metric_names.index("bitterness")
    assert zero.metrics[i] == missing.metrics[i] == 0.0
    assert zero.metrics_mask[i] == 1.0 and missing.metrics_mask[i] == 0.0


def test_context_is_left_padded_newest_last(lexicon):
    rec = TastingRecord.from_dict({"context": [{"hour": 6}, {"hour": 18, "location": "cafe"}]})
    f = FeatureExtractor(lexicon)(rec)
    assert f.context_mask.tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert not f.context[:6].any()
    cols = default_spec().context_columns()
    newest = dict(zip(cols, f.context[7]))
    assert newest["location=cafe"] == 1.0 and newest["hour.present"] == 1.0
    assert np.isclose(newest["hour.cos"], np.cos(2 * np.pi * 18 / 24))


def test_snapshot_encoding_one_hot_and_scaled():
    spec = default_spec()
    v = dict(zip(spec.context_columns(), encode_snapshot(ContextSnapshot(weekday="sun", mood=10.0, stress=0.0), spec)))
    assert v["weekday=sun"] == 1.0 and sum(v[f"weekday={d}"] for d in ("mon", "tue", "sat")) == 0
    assert v["mood.scaled"] == 1.0 and v["stress.scaled"] == -1.0 and v["mood.present"] == 1.0
    assert v["energy.present"] == 0.0 and v["hour.present"] == 0.0


def test_batch_accepts_dicts_and_records(lexicon):
    ex = FeatureExtractor(lexicon)
    b = ex.batch([{"notes": "Jasmine"}, TastingRecord(notes="자스민")])
    assert b.lexicon.shape == (2, lexicon.dim)
    assert np.array_equal(b.lexicon[0], b.lexicon[1])  # EN and KO name the same node
    assert b.notes == ["jasmine", "자스민"]
