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


def test_ridge_dual_form_matches_primal():
    """With more features than rows the probe solves the dual; same predictions as the primal solve."""
    from taste2vec_reference.evaluate import ridge_fit, ridge_predict

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 50)), rng.normal(size=30)
    dual = ridge_fit(x, y, 3.0)
    xs = np.hstack([(x - x.mean(0)) / (x.std(0) + 1e-6), np.ones((30, 1))])
    reg = 3.0 * np.eye(51)
    reg[-1, -1] = 0
    primal = np.linalg.solve(xs.T @ xs + reg, xs.T @ y)
    assert np.allclose(dual[0], primal, atol=1e-8)
    assert np.allclose(ridge_predict(dual, x), xs @ primal, atol=1e-8)


def test_tfidf_ranks_the_document_sharing_rare_words():
    from taste2vec_reference.baselines import TfidfVectorizer

    train = ["jasmine and peach", "dark chocolate and cedar", "peach and cedar", "jasmine tea and lemon"] * 2
    vec = TfidfVectorizer().fit(train)
    q, g = vec.transform(["jasmine with peach"]), vec.transform(["chocolate, cedar", "jasmine, peach", "and and"])
    assert np.allclose(np.linalg.norm(g[:2], axis=1), 1.0)
    assert (q @ g.T).argmax() == 1 and vec.transform(["unseen words only"]).sum() == 0
    assert "jasmine peach" not in vec.vocab and "jasmine peach" in TfidfVectorizer(ngrams=2).fit(
        ["jasmine peach"] * 2).vocab
