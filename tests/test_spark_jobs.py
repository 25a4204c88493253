"""Spark batch jobs in local mode: embedding records with the shipped TFLite model matches the SDK exactly;
preference pairs from feedback events."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taste2vec import Embedder
from taste2vec.bundle import default_bundle_path
from taste2vec.golden import sample_records
from taste2vec_backend.lifecycle.spark_jobs import embed_records, preference_pairs, session


@pytest.fixture(scope="module")
def spark():
    s = session("local[2]", "taste2vec-tests", shuffle_partitions=2)
    yield s
    s.stop()


def _records(n: int) -> list[dict]:
    samples = [r for _, r in sample_records()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        rec = json.loads(json.dumps(samples[i % len(samples)]))
        rec.setdefault("metrics", {})["acidity"] = float(np.round(rng.uniform(0, 10), 2))
        out.append({"id": f"r{i}", "record": rec})
    return out


def test_spark_embeddings_equal_the_sdk(spark, tmp_path):
    recs = _records(60)
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "record": {"metrics": {"acidity": 42}}}) + "\n", encoding="utf-8")
    df = embed_records(spark, str(path), default_bundle_path(), out=tmp_path / "vectors", partitions=3)
    rows = {r["id"]: r for r in df.collect()}
    assert len(rows) == 60 and all(r["error"] is None for r in rows.values())
    with Embedder.create_default() as emb:
        for r in recs:
            want = emb.embed(r["record"])
            got = rows[r["id"]]
            assert got["model"] == want.model_version and got["bucket"] == want.bucket
            assert np.array_equal(np.asarray(got["embedding"], np.float32), want.embedding), r["id"]
    back = spark.read.parquet(str(tmp_path / "vectors"))
    assert back.count() == 60
    errs = embed_records(spark, str(bad), default_bundle_path()).collect()
    assert errs[0]["embedding"] is None and errs[0]["error"].startswith("OutOfRangeError: metrics.acidity")


def test_preference_pairs_from_events(spark):
    events = [
        {"user_id": "u1", "item_id": "a", "type": "like"}, {"user_id": "u1", "item_id": "b", "type": "dislike"},
        {"user_id": "u1", "item_id": "c", "type": "rating", "value": 5}, {"user_id": "u1", "item_id": "d",
                                                                            "type": "rating", "value": 1},
        {"user_id": "u1", "item_id": "e", "type": "rating", "value": 3},  # neutral: in no pair
        {"user_id": "u2", "item_id": "a", "type": "like"},  # no negative: no pairs
        {"user_id": "u3", "item_id": "x", "type": "shown"},
    ]
    pairs = {(r["user_id"], r["preferred"], r["other"]) for r in preference_pairs(spark, events).collect()}
    assert pairs == {("u1", "a", "b"), ("u1", "a", "d"), ("u1", "c", "b"), ("u1", "c", "d")}
    capped = preference_pairs(spark, events, max_pairs_per_user=2).collect()
    assert len(capped) == 2
