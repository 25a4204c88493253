"""TasteProfile: learns from feedback, bounded memory, typed errors, JSON round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taste2vec.errors import InvalidTypeError, NonFiniteValueError, OutOfRangeError
from taste2vec.profile import ProfileError, TasteProfile


def _unit(rng, n, d=16):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_profile_recovers_a_hidden_preference_direction():
    rng = np.random.default_rng(0)
    truth = _unit(rng, 1)[0]
    items = _unit(rng, 300)
    p = TasteProfile(dim=16)
    assert p.is_empty and np.all(p.score(items) == 0)
    for e in items[:60]:
        u = float(e @ truth)
        p.rate(e, float(np.clip(3 + 4 * u, 1, 5)))
    corr = np.corrcoef(p.score(items[60:]), items[60:] @ truth)[0, 1]
    assert corr > 0.8


def test_likes_only_still_rank_similar_items_first():
    rng = np.random.default_rng(1)
    items = _unit(rng, 50)
    p = TasteProfile(dim=16)
    p.like(items[0])
    p.like(items[0] * 0.9 + items[1] * 0.1)
    s = p.score(items)
    assert int(np.argmax(s)) == 0 and s[0] > 0


def test_buffer_is_bounded_and_old_feedback_is_folded_not_forgotten():
    rng = np.random.default_rng(2)
    items = _unit(rng, 40)
    p = TasteProfile(dim=16, buffer_size=8)
    p.like(items[0])
    for e in items[1:20]:
        p.rate(e, 3)  # neutral events push the first one out of the buffer
    assert len(p.buffer) == 8 and p.n_events == 20
    assert all(f.target == 0.0 for f in p.buffer)
    assert float(p.prior @ items[0]) > 0.1  # the evicted like lives on in the prior
    assert p.score(items[:1])[0] > 0


def test_round_trip_through_json(tmp_path):
    rng = np.random.default_rng(3)
    items = _unit(rng, 30)
    p = TasteProfile(dim=16, buffer_size=10, model_version="m-1.0.0")
    for i, e in enumerate(items[:15]):
        p.add_feedback(e, liked=bool(i % 2), item_id=f"c{i}", attributes={"Floral": 1.0, "Roasted": 0.5})
    q = TasteProfile.load(p.save(tmp_path / "p.json"))
    np.testing.assert_allclose(q.score(items), p.score(items), atol=1e-6)
    assert q.n_events == 15 and q.model_version == "m-1.0.0" and q.attribute_affinity == p.attribute_affinity
    assert not list(tmp_path.glob(".tmp-*"))
    (tmp_path / "bad.json").write_text('{"format": "taste2vec.profile/1", "dim": 16}')
    with pytest.raises(ProfileError, match="profile.buffer_size: expected an integer"):
        TasteProfile.load(tmp_path / "bad.json")


@pytest.mark.parametrize("kwargs, error, field", [
    ({"rating": 0}, OutOfRangeError, "rating"),
    ({"rating": 5.5}, OutOfRangeError, "rating"),
    ({"rating": math.nan}, NonFiniteValueError, "rating"),
    ({"rating": "5"}, InvalidTypeError, "rating"),
    ({"rating": True}, InvalidTypeError, "rating"),
    ({"liked": "yes"}, InvalidTypeError, "liked"),
])
def test_bad_feedback_raises_typed_errors(kwargs, error, field):
    p = TasteProfile(dim=16)
    with pytest.raises(error) as exc:
        p.add_feedback(np.ones(16), **kwargs)
    assert exc.value.field == field and p.n_events == 0


def test_bad_embeddings_are_refused():
    p = TasteProfile(dim=16)
    with pytest.raises(InvalidTypeError, match="embedding"):
        p.like(np.ones(8))
    with pytest.raises(NonFiniteValueError):
        p.like(np.full(16, np.inf))
    with pytest.raises(OutOfRangeError, match="zero"):
        p.like(np.zeros(16))
    with pytest.raises(ValueError, match="exactly one"):
        p.add_feedback(np.ones(16))


def test_feedback_from_another_model_version_is_refused():
    from taste2vec import Embedder

    with Embedder.create_default() as e:
        r = e.embed({"notes": "jasmine"})
    p = TasteProfile(model_version="taste2vec-edge-0.9.0")
    with pytest.raises(ProfileError, match=r.model_version):
        p.like(r)
    fresh = TasteProfile()
    fresh.like(r)
    assert fresh.model_version == r.model_version


def test_profile_learns_on_the_synthetic_world_more_after_20_events_than_after_5():
    from taste2vec import Embedder
    from taste2vec_reference.personalization import ProfileEvalConfig, evaluate_profiles
    from taste2vec_reference.synthetic import TasteWorld

    with Embedder.create_default() as e:
        res = evaluate_profiles(TasteWorld(), e, ProfileEvalConfig(users=60, catalog=80, checkpoints=(0, 5, 20)))
    a = res["after"]
    assert a[0]["auc"] == 0.5  # no feedback: every coffee ties
    assert a[5]["auc"] > 0.5 + 2 * a[5]["auc_ci95"]  # better than chance
    assert a[20]["auc"] > a[5]["auc"] + 0.03  # and better after 20 events than after 5
    assert a[20]["precision@10"] > a[5]["precision@10"] > res["chance_precision@10"]


def test_batch_refits_once_and_gives_the_same_profile_bit_for_bit():
    rng = np.random.default_rng(3)
    events = []
    for i in range(100):  # past the buffer, so folding into the prior happens inside the batch
        v = rng.normal(size=32)
        kw = {"liked": bool(i % 3)} if i % 4 else {"rating": float(rng.integers(1, 6))}
        events.append((v / np.linalg.norm(v), kw, {"Floral": float(i % 5)}))
    one, many = TasteProfile(32, buffer_size=16), TasteProfile(32, buffer_size=16)
    for v, kw, a in events:
        one.add_feedback(v, attributes=a, **kw)
    calls = []
    refit = many._refit
    many._refit = lambda: (calls.append(1), refit())[1]
    with many.batch():
        for v, kw, a in events:
            many.add_feedback(v, attributes=a, **kw)
    assert len(calls) == 1
    assert np.array_equal(one.preference, many.preference) and np.array_equal(one.prior, many.prior)
    assert one.attribute_affinity == many.attribute_affinity and one.n_events == many.n_events == 100
    assert [(f.embedding.tobytes(), f.target) for f in one.buffer] == [(f.embedding.tobytes(), f.target)
                                                                       for f in many.buffer]
    # an event that raises inside the block: the ones before it stay applied and the fit is current
    p, q = TasteProfile(32), TasteProfile(32)
    with pytest.raises(OutOfRangeError):
        with p.batch():
            p.add_feedback(events[0][0], liked=True)
            p.add_feedback(events[1][0], rating=9)
    q.add_feedback(events[0][0], liked=True)
    assert p.n_events == 1 and np.array_equal(p.preference, q.preference)


@pytest.mark.parametrize("record", [{"notes": "jasmine", "metrics": {"acidity": 7}}, '{"notes": "jasmine"}'])
def test_liking_a_record_says_to_embed_it_first(record):
    with pytest.raises(InvalidTypeError) as info:
        TasteProfile().like(record)
    assert info.value.field == "embedding" and "embed the record first" in str(info.value)


def test_like_and_dislike_move_the_score_in_opposite_directions():
    """like raises the score of what was liked and of its neighbours, dislike lowers them: each verb's sign and
    effect, on its own profile and side by side (a dislike that liked would fail every line)."""
    rng = np.random.default_rng(3)
    item, other = _unit(rng, 2)
    near = item + 0.2 * other
    near /= np.linalg.norm(near)
    liked, disliked = TasteProfile(dim=16), TasteProfile(dim=16)
    f_like, f_dislike = liked.like(item, item_id="a"), disliked.dislike(item, item_id="a")
    assert (f_like.target, f_dislike.target) == (1.0, -1.0)
    s_like, s_dislike = liked.score(np.stack([item, near])), disliked.score(np.stack([item, near]))
    assert s_like[0] > 0.4 and s_like[1] > 0 and s_dislike[0] < -0.4 and s_dislike[1] < 0
    np.testing.assert_allclose(s_like, -s_dislike, rtol=1e-6)
    assert liked.liked_items() and not disliked.liked_items()
    both = TasteProfile(dim=16)
    both.like(item, attributes={"Fruity > Berry": 1.0})
    before = both.score(item[None])[0]
    both.dislike(near, attributes={"Fruity > Berry": 1.0})
    assert both.score(item[None])[0] < before and both.attribute_affinity["Fruity > Berry"] == 0.0


# --------------------------------------------------------------------------- the maths, pinned
def _unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_stars_map_linearly_onto_targets():
    from taste2vec.profile import rating_target

    assert [rating_target(r) for r in (1, 2, 3, 4, 5, 4.5)] == [-1.0, -0.5, 0.0, 0.5, 1.0, 0.75]


def test_the_fit_reproduces_the_buffer_and_folding_moves_the_prior_towards_what_left():
    """Kernel ridge around the prior: with a tiny ridge the profile scores each buffered item at its target; an
    event that leaves the full buffer is folded into the prior, which then scores it closer to its target."""
    v = _unit_vectors(6)
    p = TasteProfile(16, buffer_size=3, ridge=1e-6, fold_rate=0.5)
    targets = [1.0, -1.0, 0.5, -0.5, 1.0, 0.0]
    for i, t in enumerate(targets[:3]):
        p.add_feedback(v[i], rating=3 + 2 * t)
    assert np.allclose(p.score(v[:3].astype(np.float32)), targets[:3], atol=1e-3)
    p.add_feedback(v[3], rating=3 + 2 * targets[3])  # v[0] (target 1) leaves: the prior takes half of it
    assert np.any(p.prior) and abs(1.0 - float(p.prior @ v[0])) < 1.0
    assert float(p.prior @ v[0]) == pytest.approx(0.5 * np.dot(v[0], v[0]), abs=1e-6)
    p.add_feedback(v[4], rating=3 + 2 * targets[4])
    assert np.allclose(p.score(v[2:5].astype(np.float32)), targets[2:5], atol=1e-3)  # the fit holds with a prior
    q = TasteProfile(16, buffer_size=1, fold_rate=0.5)
    for x in (v[0], v[0], v[1]):  # the same liked item folded twice: half the way to its target, then half again
        q.like(x)
    assert float(q.prior @ v[0]) == pytest.approx(0.75, abs=1e-5)


def test_attribute_affinity_adds_target_times_weight_and_ranks_positive_ones():
    p = TasteProfile(16)
    v = _unit_vectors(4)
    p.like(v[0], attributes={"floral": 0.5, "citrus": 0.5})
    p.dislike(v[1], attributes={"smoky": 0.8, "citrus": 0.2})
    p.rate(v[2], 4, attributes={"berry": 0.5, "zero": 0.0})
    assert p.attribute_affinity == pytest.approx({"floral": 0.5, "citrus": 0.3, "smoky": -0.8, "berry": 0.25,
                                                  "zero": 0.0})
    assert p.top_attributes() == [("floral", 0.5), ("citrus", pytest.approx(0.3)), ("berry", 0.25)]
    for i in range(8):
        p.like(v[3], attributes={f"a{i}": 1.0})
    top = p.top_attributes()
    assert len(top) == 5 and [a for a, _ in top] == ["a0", "a1", "a2", "a3", "a4"]  # ties: by name
    assert p.top_attributes(2) == top[:2]


def test_liked_items_are_the_positive_targets_with_ids():
    p = TasteProfile(16)
    v = _unit_vectors(4)
    p.like(v[0], item_id="a")
    p.rate(v[1], 3, item_id="neutral")
    p.dislike(v[2], item_id="b")
    p.like(v[3])
    assert [i for i, _ in p.liked_items()] == ["a"]


@pytest.mark.parametrize("kwargs, ok", [
    ({"dim": 1}, True), ({"dim": 0}, False), ({"buffer_size": 1}, True), ({"buffer_size": 0}, False),
    ({"ridge": 1e-12}, True), ({"ridge": 0.0}, False), ({"ridge": float("inf")}, False),
    ({"fold_rate": 0.0}, True), ({"fold_rate": 1.0}, True), ({"fold_rate": -0.01}, False),
    ({"fold_rate": 1.01}, False)])
def test_profile_settings_are_checked_at_their_limits(kwargs, ok):
    if ok:
        TasteProfile(**{"dim": 8, **kwargs})
    else:
        with pytest.raises(OutOfRangeError) as e:
            TasteProfile(**{"dim": 8, **kwargs})
        assert e.value.field == next(iter(kwargs))


def test_saved_profiles_keep_korean_ids_readable_and_refuse_non_finite_numbers():
    p = TasteProfile(16)
    p.like(_unit_vectors(1)[0], item_id="에티오피아-1", attributes={"꽃향": 1.0})
    text = p.to_json()
    assert "에티오피아-1" in text and "꽃향" in text
    p.ridge = float("nan")
    with pytest.raises(ValueError):
        p.to_json()
