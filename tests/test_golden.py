"""Golden vectors: the SDK's preprocessing + runtime reproduce what the conversion toolkit validated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taste2vec import Embedder
from taste2vec.bundle import default_bundle_path
from taste2vec.golden import GoldenError, compare_golden, decode_tensor, make_golden, sample_records

ROOT = Path(__file__).resolve().parents[1]


def test_sdk_matches_the_toolkit_outputs_shipped_in_the_default_bundle():
    with Embedder.create_default() as e:
        doc = json.loads(e.bundle.file_bytes("golden_outputs.json"))
        assert doc["producer"].startswith("taste2vec_convert") and len(doc["cases"]) == len(sample_records())
        res = compare_golden(e, doc)
    assert res.ok, res.mismatches
    assert res.max_abs_diff <= 1e-5


def test_committed_sdk_golden_file_is_what_the_sdk_writes_now():
    bundle = default_bundle_path().name
    committed = json.loads((ROOT / "sdk" / "golden" / f"{bundle}.json").read_text(encoding="utf-8"))
    with Embedder.create_default() as e:
        fresh = make_golden(e)
    assert committed["model_sha256"] == fresh["model_sha256"]
    for a, b in zip(committed["cases"], fresh["cases"], strict=True):
        assert a["tokens"] == b["tokens"] and a["inputs"] == b["inputs"], a["name"]
        np.testing.assert_allclose(a["embedding"], b["embedding"], atol=1e-6, rtol=0)


def test_toolkit_path_and_sdk_path_agree_on_a_fresh_tiny_bundle(make_bundle, lexicon, trusted):
    from taste2vec_convert.golden import toolkit_golden

    b = make_bundle()
    doc = toolkit_golden(b.model_bytes(), b.model_id, b.tokenizer, lexicon)
    with Embedder.create_from_model_path(b.path, **trusted) as e:
        res = compare_golden(e, doc)
        assert res.ok and res.max_abs_diff <= 1e-5, res.mismatches
        # a changed tensor in the golden file is caught
        bad = json.loads(json.dumps(doc))
        bad["cases"][0]["inputs"]["metrics"]["data"][4] += 1.0
        bad["cases"][1]["embedding"][0] += 1e-3
        res = compare_golden(e, bad)
    assert not res.ok
    assert any("input metrics differs" in m for m in res.mismatches)
    assert any("embedding max abs diff" in m for m in res.mismatches)


def test_golden_of_another_model_is_refused(make_bundle, trusted):
    with Embedder.create_default() as e:
        doc = make_golden(e, sample_records()[:2])
    with Embedder.create_from_model_path(make_bundle().path, **trusted) as other:
        with pytest.raises(GoldenError, match="golden file is for taste2vec-edge"):
            compare_golden(other, doc)


def test_golden_tensors_round_trip_exactly():
    with Embedder.create_default() as e:
        doc = make_golden(e, sample_records()[:3])
        for (name, rec), case in zip(sample_records()[:3], doc["cases"]):
            inputs = e.preprocess(rec)
            for k, v in inputs.tensors.items():
                got = decode_tensor(case["inputs"][k])
                assert got.dtype == v.dtype and np.array_equal(got, v), (name, k)
