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


# --------------------------------------------------------------- exact semantics (each pins a rule a mutant broke)
def _reference_mmr(rel: np.ndarray, emb: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance written out: relevance min-max scaled, redundancy the largest cosine to a pick."""
    span = rel.max() - rel.min()
    scaled = (rel - rel.min()) / span if span > 0 else np.zeros_like(rel)
    picks: list[int] = []
    for _ in range(min(k, len(rel))):
        best, best_v = -1, -np.inf
        for j in range(len(rel)):
            if j in picks:
                continue
            red = max(float(emb[j] @ emb[p]) for p in picks) if picks else 0.0
            v = (1 - lam) * scaled[j] - lam * red
            if v > best_v:
                best, best_v = j, v
        picks.append(best)
    return picks


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_diverse_picks_follow_maximal_marginal_relevance(seed, lam):
    cat = _catalog(n=25, seed=seed)
    p = TasteProfile(dim=16, model_version="m-1.0.0")
    p.like(cat.embedding("c3"), item_id="c3")
    p.add_feedback(cat.embedding("c8"), rating=2, item_id="c8")
    picks = recommend(p, cat, k=6, exclude={"c3"}, diversity=lam)
    cand = [i for i, it in enumerate(cat.items) if it.id != "c3"]
    rel = p.score(cat.embeddings[cand]).astype(np.float64)
    expected = [cat.items[cand[j]].id for j in _reference_mmr(rel, cat.embeddings[cand].astype(np.float64), 6, lam)]
    assert [r.item.id for r in picks] == expected
    assert len(set(expected)) == 6  # no coffee twice
    assert [r.score for r in picks] == pytest.approx([float(rel[cand.index(cat._index[i])]) for i in expected])


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_an_empty_profile_with_diversity_picks_by_redundancy_alone(lam):
    cat = _catalog(n=12, seed=9)
    picks = recommend(TasteProfile(dim=16), cat, k=5, diversity=lam)
    emb = cat.embeddings.astype(np.float64)
    assert [r.item.id for r in picks] == [cat.items[j].id for j in _reference_mmr(np.zeros(12), emb, 5, lam)]
    assert all(r.score == 0.0 for r in picks)


def test_everything_excluded_gives_nothing_and_arguments_are_checked_exactly():
    cat = _catalog(n=4)
    p = TasteProfile(dim=16)
    assert recommend(p, cat, exclude=[it.id for it in cat.items]) == []
    assert len(recommend(p, cat, k=1, diversity=1.0)) == 1 and len(recommend(p, cat, k=9, diversity=0)) == 4
    assert len(recommend(p, cat, k=2)) == 2 and len(recommend(p, cat, k=3, diversity=0.5)) == 3
    for k in (0, -1, True, 2.0, "3"):
        with pytest.raises(OutOfRangeError, match="k"):
            recommend(p, cat, k=k)
    for d in (-0.01, 1.01, True, "0.5", float("nan")):
        with pytest.raises(OutOfRangeError, match="diversity"):
            recommend(p, cat, diversity=d)
    with pytest.raises(CatalogError, match="profile dim 8 != catalog dim 16"):
        recommend(TasteProfile(dim=8), cat)


def test_explanations_rank_flavours_by_affinity_times_weight_and_name_the_closest_liked_coffee():
    x = np.eye(6, 16)
    x[5] = 0.9 * x[0] + 0.1 * x[1]  # close to c0, far from c1
    items = [CatalogItem(f"c{i}", f"Coffee {i}") for i in range(5)]
    items.append(CatalogItem("c5", "Coffee 5", attributes={"Floral > Floral > Jasmine": 0.9, "Fruity > Berry": 0.2,
                                                            "Roasted > Smoky": 0.5, "Nutty > Cocoa": 0.0}))
    cat = Catalog(items, x, "m-1.0.0")
    p = TasteProfile(dim=16)
    p.like(cat.embedding("c1"), item_id="c1")
    p.like(cat.embedding("c0"), item_id="c0")
    p.attribute_affinity = {"Floral > Floral > Jasmine": 0.3, "Fruity > Berry": 1.0, "Roasted > Smoky": -1.0,
                            "Nutty > Cocoa": 2.0}
    rec = next(r for r in recommend(p, cat, k=6) if r.item.id == "c5")
    # 0.3 x 0.9 = 0.27 before 1.0 x 0.2 = 0.2; a disliked flavour and a zero weight are not reasons
    assert rec.because == ("Floral > Floral > Jasmine", "Fruity > Berry") and rec.similar_to == "c0"
    assert rec.explanation == "matches flavours you liked: Jasmine, Berry; close to Coffee 0, which you liked"
    d = rec.to_dict()
    assert d["score"] == round(rec.score, 4) and d["because"] == list(rec.because) and d["similar_to"] == "c0"
    fresh = next(r for r in recommend(TasteProfile(dim=16), cat, k=6) if r.item.id == "c5")
    assert fresh.explanation == "no feedback to match yet; its profile: Jasmine, Smoky, Berry"
    disliked = TasteProfile(dim=16)
    disliked.dislike(cat.embedding("c2"))
    only = next(r for r in recommend(disliked, cat, k=6) if r.item.id == "c5")
    assert only.explanation == "predicted from your ratings; its profile: Jasmine, Smoky, Berry"


def test_unit_rows_stay_bit_exact_and_others_are_normalized():
    rng = np.random.default_rng(7)
    unit = rng.normal(size=(64, 16)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)  # float32 unit rows: norms 1 +- a few 1e-8
    items = [CatalogItem(f"u{i}", f"U{i}") for i in range(64)]
    assert np.array_equal(Catalog(items, unit, "m").embeddings, unit)
    scaled = unit * 3.0
    got = Catalog(items, scaled, "m").embeddings
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6) and np.allclose(got, unit, atol=1e-6)
    zero = unit.copy()
    zero[5] = 0.0
    with pytest.raises(CatalogError, match="zero embedding"):
        Catalog(items, zero, "m")


def test_similar_scores_are_cosines_and_bad_queries_are_refused():
    cat = _catalog(n=10)
    q = 3.0 * cat.embedding("c2").astype(np.float64)  # scale does not matter: a cosine
    top = cat.similar(q, k=3, exclude={"c7"})
    assert top[0][0].id == "c2" and top[0][1] == pytest.approx(1.0, abs=1e-6)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True) and "c7" not in [i.id for i, _ in top]
    assert len(cat.similar(q, k=1)) == 1
    for bad in (np.zeros(16), np.full(16, np.nan), np.ones(15)):
        with pytest.raises(CatalogError, match="finite non-zero vector of 16"):
            cat.similar(bad)


def test_from_embeddings_refuses_vectors_of_two_models(embedder):
    from dataclasses import replace

    a = embedder.embed({"notes": "jasmine"})
    b = replace(embedder.embed({"notes": "cocoa"}), model_version="taste2vec-edge-0.9.0")
    with pytest.raises(CatalogError, match="several models"):
        Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], [a, b])
    assert len(Catalog.from_embeddings([{"id": "a"}, {"id": "b"}], iter([a, a]))) == 2  # any iterable


def test_a_retrained_bundle_gets_its_own_catalog_and_the_demo_recommends_from_it(make_bundle, tmp_path, capsys):
    """make demo's last steps: `taste2vec-convert catalog` embeds the reviewed coffees with a development (unsigned)
    bundle only when asked to accept one, and `taste2vec demo --catalog` recommends from that catalog; without it
    the demo says which catalog to give."""
    import csv
    import re

    from taste2vec.bundle import BundleError
    from taste2vec.cli import main
    from taste2vec_convert.catalog import build_catalog

    bundle = make_bundle("0.1.0", signed=False).path
    rows = [{"name": f"Coffee {i}", "roaster": "R", "desc_1": text, "roast": "Light", "rating": "93",
             "origin_1": "Ethiopia", "origin_2": ""}
            for i, text in enumerate(["jasmine, bergamot, lemon", "dark chocolate, smoky", "blueberry jam, winey",
                                      "caramel, milk chocolate", "bright citrus, black tea"])]
    reviews = tmp_path / "reviews.csv"
    with open(reviews, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(BundleError, match="not signed"):
        build_catalog(bundle, csv_path=reviews)
    cat = build_catalog(bundle, csv_path=reviews, allow_unsigned=True)
    assert len(cat) == 5 and cat.model_version == "taste2vec-test-0.1.0"
    cat.save(tmp_path / "catalog.json")
    assert main(["demo", "--model", str(bundle), "--allow-unsigned", "--catalog", str(tmp_path / "catalog.json")]) == 0
    out = capsys.readouterr().out
    picks = re.findall(r"^  [+-]\d\.\d{3}  (Coffee \d) \(R, Light\)$", out, re.M)
    assert "5 catalog coffees" in out and len(picks) == len(set(picks)) == 3, out
    assert main(["demo", "--model", str(bundle), "--allow-unsigned"]) == 0  # the bundled model's demo catalog
    assert "--catalog FILE" in capsys.readouterr().out
