"""SDK latency (pytest-benchmark): embed by record size, embed_batch, preprocessing alone, model invoke alone,
profile update, recommend over 1k / 10k catalog entries. Single interpreter thread.

    make bench                                   # runs and saves (.benchmarks/), then the side-by-side table
    .venv/bin/pytest-benchmark compare           # saved runs side by side (see benchmarks/README.md)
"""

from __future__ import annotations

import numpy as np
import pytest

from taste2vec.curation import Catalog, CatalogItem, recommend
from taste2vec.golden import sample_records
from taste2vec.profile import TasteProfile


def random_catalog(n: int, dim: int = 128, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    attrs = ("Floral", "Fruity > Berry", "Nutty/Cocoa > Cocoa", "Roasted", "Sweet > Brown Sugar", "Spices")
    items = [CatalogItem(f"c{i}", f"Coffee {i}", attributes={attrs[i % 6]: 1.0, attrs[(i + 1) % 6]: 0.5})
             for i in range(n)]
    return Catalog(items, x, "bench")


@pytest.mark.parametrize("kind", ["short", "typical", "korean", "maximal"])
def test_embed(benchmark, embedder, records, kind):
    benchmark.group = "embed (record -> vector)"
    r = benchmark(embedder.embed, records[kind])
    assert r.embedding.shape == (128,)


def test_embed_batch_12_samples(benchmark, embedder):
    benchmark.group = "embed_batch"
    recs = [r for _, r in sample_records()]
    out = benchmark(embedder.embed_batch, recs)
    assert len(out) == 12


@pytest.mark.parametrize("kind", ["short", "typical", "maximal"])
def test_preprocess(benchmark, embedder, records, kind):
    benchmark.group = "preprocess only (validation, tokenizer, lexicon, features)"
    benchmark(embedder.preprocess, records[kind])


@pytest.mark.parametrize("kind", ["short", "typical", "maximal"])
def test_invoke(benchmark, embedder, records, kind):
    benchmark.group = "model invoke only (bucket 16 / 32 / 64)"
    inputs = embedder.preprocess(records[kind])
    out = benchmark(embedder.run, inputs)
    assert out.shape == (128,)


def test_profile_update_full_buffer(benchmark):
    benchmark.group = "profile"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, 128))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = TasteProfile()
    for e in x[:64]:
        p.like(e)
    it = iter(range(10**9))

    def update():
        i = next(it)
        p.rate(x[i % len(x)], 1 + i % 5)

    benchmark(update)
    assert len(p.buffer) == 64


@pytest.mark.parametrize("n", [1_000, 10_000])
@pytest.mark.parametrize("diversity", [0.0, 0.3])
def test_recommend(benchmark, n, diversity):
    benchmark.group = f"recommend k=10 over {n:,}"
    cat = random_catalog(n)
    p = TasteProfile()
    for i in range(20):
        p.rate(cat.embeddings[i], 1 + i % 5, item_id=cat.items[i].id, attributes=cat.items[i].attributes)
    picks = benchmark(recommend, p, cat, 10, (), diversity)
    assert len(picks) == 10
