"""Evaluation metrics on hand-made inputs."""

from __future__ import annotations

import numpy as np

from taste2vec_reference.evaluate import auc, cross_lingual, preference_auc, probe, recall_at_k


def test_recall_at_k():
    g = np.eye(4)
    q = np.eye(4)[[0, 1, 3, 2]]  # rows 2 and 3 swapped: their match ranks second
    r = recall_at_k(q, g, ks=(1, 2))
    assert r == {"recall@1": 0.5, "recall@2": 1.0}


def test_auc_and_preference():
    assert auc(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5
    emb = np.array([[1, 0], [1, 0.1], [0.9, 0], [1, 0.05], [1, 0.2], [0.95, 0.1], [0, 1], [0.1, 1]], float)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert preference_auc(emb, [([0, 1, 2, 3, 4, 5], [6, 7])])["auc"] == 1.0


def test_cross_lingual_perfect_and_random():
    x = np.eye(5)
    assert cross_lingual(x, x)["agreement"] == 1.0
    assert cross_lingual(x, x[::-1])["agreement"] < 0.5


def test_ridge_probe_recovers_a_linear_target():
    rng = np.random.default_rng(0)
    xs = {s: rng.normal(size=(200, 5)) for s in ("train", "val", "test")}
    ys = {s: x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + rng.normal(0, 0.1, 200) for s, x in xs.items()}
    assert probe(xs, ys, "regression")["r2"] > 0.99
    yc = {s: np.eye(2)[(x[:, 0] > 0).astype(int)] for s, x in xs.items()}
    assert probe(xs, yc, "classes")["accuracy"] > 0.9
