"""Curation: recommend() ranks by the profile, honours exclusions, diversifies, explains, refuses mismatches."""

from __future__ import annotations

import numpy as np
import pytest

from taste2vec.curation import Catalog, CatalogError, CatalogItem, recommend
from taste2vec.errors import OutOfRangeError, RecordValidationError
from taste2vec.profile import TasteProfile


def _catalog(n=40, d=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    items = [CatalogItem(f"c{i}", f"Coffee {i}", attributes={"Floral": 1.0} if i % 2 == 0 else {"Roasted": 1.0})
             for i in range(n)]
    return Catalog(items, x, "m-1.0.0")


def test_recommend_follows_the_profile_and_skips_excluded():
    cat = _catalog()
    p = TasteProfile(dim=16, model_version="m-1.0.0")
    p.like(cat.embedding("c4"), item_id="c4", attributes={"Floral": 1.0})
    picks = recommend(p, cat, k=5, exclude={"c4", "unknown-id"})
    assert len(picks) == 5 and "c4" not in [r.item.id for r in picks]
    scores = [r.score for r in picks]
    assert scores == sorted(scores, reverse=True)
    best = max((i for i in cat.items if i.id != "c4"), key=lambda i: float(cat.embedding(i.id) @ p.preference))
    assert picks[0].item.id == best.id
    floral = [r for r in picks if "Floral" in r.item.attributes]
    assert all(r.because == ("Floral",) for r in floral)
    assert all("Coffee 4" in r.explanation for r in picks)  # the liked item is named


def test_diversity_spreads_the_picks():
    cat = _catalog(n=60)
    base = cat.embeddings[0]
    # ten near-duplicates of item 0 that the profile loves
    emb = cat.embeddings.copy()
    emb[1:11] = base + 0.01 * np.random.default_rng(5).normal(size=(10, 16))
    cat = Catalog(cat.items, emb, "m-1.0.0")
    p = TasteProfile(dim=16)
    p.like(base)

    def spread(picks):
        e = np.stack([cat.embedding(r.item.id) for r in picks])
        s = e @ e.T
        return float(s[np.triu_indices(len(picks), 1)].mean())

    plain, diverse = recommend(p, cat, k=5), recommend(p, cat, k=5, diversity=0.5)
    assert spread(diverse) < spread(plain) - 0.2


def test_empty_profile_gives_a_starter_set_and_says_so():
    picks = recommend(TasteProfile(dim=16), _catalog(), k=3, diversity=0.5)
    assert len(picks) == 3 and all("no feedback" in r.explanation for r in picks)


def test_mismatched_model_and_bad_arguments_are_refused(tmp_path):
    cat = _catalog()
    with pytest.raises(CatalogError, match="re-embed"):
        recommend(TasteProfile(dim=16, model_version="m-2.0.0"), cat)
    with pytest.raises(OutOfRangeError, match="k"):
        recommend(TasteProfile(dim=16), cat, k=0)
    with pytest.raises(OutOfRangeError, match="diversity"):
        recommend(TasteProfile(dim=16), cat, diversity=2)
    c2 = Catalog.load(cat.save(tmp_path / "c.json"))
    np.testing.assert_array_equal(c2.embeddings, cat.embeddings)
    (tmp_path / "bad.json").write_text('{"format": "taste2vec.catalog/1", "model": "m", "items": []}')
    with pytest.raises(CatalogError, match="malformed"):
        Catalog.load(tmp_path / "bad.json")


def test_shipped_demo_catalog_fits_the_default_model_and_has_no_review_text():
    from taste2vec import Embedder

    cat = Catalog.default()
    with Embedder.create_default() as e:
        assert cat.model_version == e.model_version
        assert len(cat) >= 100 and cat.embeddings.shape == (len(cat), e.dim)
        r = e.embed({"notes": "dark chocolate, smoky, heavy body", "metrics": {"roast_level": 8}})
    top = cat.similar(r, k=5)
    assert all(s > 0 for _, s in top)
    for it in cat.items:
        assert set(it.to_dict()) == {"id", "name", "roaster", "origin", "roast", "rating", "attributes"}


def test_catalog_vectors_carry_their_model_version_into_profiles():
    cat, other = _catalog(), _catalog(seed=1)
    other.model_version = "m-2.0.0"
    p = TasteProfile(dim=16)  # no version of its own: it takes the one of its first feedback
    p.like(cat.embedding("c4"), item_id="c4")
    assert p.model_version == "m-1.0.0"
    with pytest.raises(CatalogError, match="m-1.0.0 vectors but the catalog was embedded with m-2.0.0"):
        recommend(p, other, k=3)
    v = cat.embedding("c4")
    assert float(v @ v) == pytest.approx(1.0) and not v.flags.writeable  # still a vector; the catalog stays intact


def test_from_records_embeds_your_own_coffees(embedder):
    coffees = [({"id": "house-1", "name": "House Ethiopia", "origin": "Ethiopia"},
                {"notes": "jasmine, bergamot, bright lemon acidity", "metrics": {"acidity": 8}}),
               (CatalogItem("house-2", "House Sumatra", attributes={"Roasted": 1.0}),
                {"notes": "dark chocolate, cedar, heavy body", "metrics": {"body": 8.5}})]
    cat = Catalog.from_records(embedder, coffees, description="our shelf")
    assert [it.id for it in cat.items] == ["house-1", "house-2"] and cat.model_version == embedder.model_version
    assert cat.items[0].attributes and cat.items[1].attributes == {"Roasted": 1.0}  # given attributes are kept
    floral = embedder.embed({"notes": "floral, jasmine, tea-like"})
    assert cat.similar(floral, 1)[0][0].id == "house-1"
    with pytest.raises(RecordValidationError) as info:
        Catalog.from_records(embedder, [({"id": "x"}, {"notes": "ok", "metrics": {"acidity": 99}})])
    assert info.value.field == "coffees[0].record.metrics.acidity"
    with pytest.raises(CatalogError, match=r"coffees\[0\].item: .*'id'"):
        Catalog.from_records(embedder, [({"name": "no id"}, {"notes": "ok"})])


def test_from_embeddings_needs_one_known_model(embedder):
    results = [embedder.embed({"notes": n}) for n in ("jasmine", "cocoa")]
    cat = Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], results)
    assert cat.model_version == embedder.model_version and cat.item("a").name == "a"
    assert np.array_equal(cat.embedding("b"), results[1].embedding)
    vectors = np.stack([r.embedding for r in results])
    with pytest.raises(CatalogError, match="model_version is required"):
        Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], vectors)
    assert Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], vectors, "m-9").model_version == "m-9"
    with pytest.raises(CatalogError, match="does not match"):
        Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], results, "m-9")
    with pytest.raises(CatalogError, match="unknown fields"):
        Catalog.from_embeddings([{"id": "a", "price": 3}], results[:1])
    with pytest.raises(CatalogError, match="2 items but embeddings of shape"):
        Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], results[:1])
