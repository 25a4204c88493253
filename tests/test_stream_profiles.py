"""The stream's profile store: batches and event ids applied at most once, order-independent within a batch,
equal to a recomputation from all events, crash-safe files, safe keys."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from taste2vec.curation import Catalog
from taste2vec_backend.stream.profiles import ProfileStore, StoreError, Update, recompute

VERSION = "taste2vec-edge-test-1.0.0"


def _updates(n: int, seed: int = 0, user: str = "u") -> list[Update]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.normal(size=128).astype(np.float32)
        kind = [{"liked": True}, {"liked": False}, {"rating": float(rng.integers(1, 6))}][i % 3]
        out.append(Update(f"{user}-e{i}", 1_795_000_000.0 + rng.integers(0, 10_000), kind, v / np.linalg.norm(v),
                          {"Floral > Floral > Jasmine": float(rng.uniform(0, 2))}, f"c{i % 7}", VERSION))
    return out


def test_batches_equal_a_recomputation_and_replays_change_nothing(tmp_path):
    store = ProfileStore(tmp_path)
    ups = _updates(40)
    batches = [ups[0:13], ups[13:25], ups[25:40]]
    for b, batch in enumerate(batches):
        shuffled = batch[:]
        random.Random(b).shuffle(shuffled)  # partition order must not matter
        assert store.apply(b, "u-1", shuffled).applied == len(batch)
    before = (tmp_path / next(tmp_path.glob("*/u-1.json")).relative_to(tmp_path)).read_bytes()
    # the job crashed after writing batch 2 and replays it: skipped as a whole
    res = store.apply(2, "u-1", batches[2])
    assert res.replayed_batch and res.applied == 0
    assert set(res.applied_ids) == {u.event_id for u in batches[2]}  # what batch 2 did, for its sinks
    assert store.apply(1, "u-1", batches[1]).applied_ids == ()
    assert next(tmp_path.glob("*/u-1.json")).read_bytes() == before
    state = store.get("u-1")
    assert state.events == 40 and state.last_batch == 2 and state.profile.n_events == 40
    ref = recompute(ups)
    np.testing.assert_allclose(state.profile.preference, ref.preference, atol=1e-9)
    assert state.profile.attribute_affinity == pytest.approx(ref.attribute_affinity)


def test_duplicate_event_ids_count_once_across_batches(tmp_path):
    store = ProfileStore(tmp_path)
    ups = _updates(10)
    store.apply(0, "u-2", ups[:6])
    res = store.apply(1, "u-2", ups[4:] + [ups[0]])  # 4, 5 and 0 again
    assert res.applied == 4 and res.duplicates == 3
    assert store.get("u-2").events == 10
    np.testing.assert_allclose(store.get("u-2").profile.preference, recompute(ups + ups[:5]).preference, atol=1e-9)


def test_pairs_put_liked_items_over_disliked_ones(tmp_path):
    store = ProfileStore(tmp_path)
    v = _updates(1)[0].embedding
    ups = [Update("a", 1.0, {"liked": True}, v, {}, "c1"), Update("b", 2.0, {"liked": False}, v, {}, "c2"),
           Update("c", 3.0, {"rating": 5.0}, v, {}, "c3"), Update("d", 4.0, {"rating": 3.0}, v, {}, "c4")]
    res = store.apply(0, "u-9", ups)
    assert set(res.pairs) == {("c1", "c2"), ("c3", "c2")}
    assert set(store.apply(0, "u-9", ups).pairs) == set(res.pairs)  # a replay gives the same pairs


def test_picks_follow_the_profile_and_skip_rated_items(tmp_path):
    cat = Catalog.default()
    store = ProfileStore(tmp_path, catalog=cat, k=5)
    liked = cat.items[3]
    store.apply(0, "u-3", [Update("e1", 1.0, {"liked": True}, cat.embedding(liked.id), liked.attributes, liked.id,
                                  cat.model_version)])
    picks = store.get("u-3").picks
    assert len(picks) == 5 and liked.id not in {p["item_id"] for p in picks}
    # the nearest coffee to the liked one leads the picks
    nearest = [it.id for it, _ in cat.similar(cat.embedding(liked.id), 2, exclude={liked.id})]
    assert picks[0]["item_id"] == nearest[0]


def test_vectors_of_another_model_are_refused(tmp_path):
    store = ProfileStore(tmp_path)
    store.apply(0, "u-4", _updates(2))
    other = Update("x", 1.0, {"liked": True}, _updates(1)[0].embedding, {}, None, "taste2vec-edge-9.9.9")
    with pytest.raises(StoreError, match="re-embed"):
        store.apply(1, "u-4", [other])
    assert store.get("u-4").events == 2 and store.get("u-4").last_batch == 0  # nothing half-applied


@pytest.mark.parametrize("user", ["../x", ".hidden", "a/b", "", "x" * 200, 7])
def test_unsafe_user_ids_are_refused(tmp_path, user):
    with pytest.raises(StoreError):
        ProfileStore(tmp_path).path(user)


def test_a_damaged_file_is_a_clear_error(tmp_path):
    store = ProfileStore(tmp_path)
    store.apply(0, "u-5", _updates(3))
    p = next(tmp_path.glob("*/u-5.json"))
    doc = json.loads(p.read_text())
    for broken in ("{", json.dumps({**doc, "format": "x"}), json.dumps({**doc, "events": -1}),
                   json.dumps({**doc, "profile": {"format": "nope"}})):
        p.write_text(broken)
        with pytest.raises(StoreError):
            store.get("u-5")
    assert list(store.users()) == ["u-5"]


def test_a_replayed_batch_reports_the_duplicates_it_skipped_the_first_time(tmp_path):
    """A kill after a user's file is written and before Spark commits the batch: the replay reports the same
    figures for that user (applied ids, duplicates, pairs) as the first run, not 0 duplicates."""
    store = ProfileStore(tmp_path)
    ups = _updates(10)
    store.apply(0, "u-3", ups[:6])
    first = store.apply(1, "u-3", ups[4:] + [ups[0]])
    replay = store.apply(1, "u-3", ups[4:] + [ups[0]])
    assert (first.duplicates, first.replayed_batch) == (3, False)
    assert replay.replayed_batch and (replay.applied_ids, replay.duplicates, replay.pairs) == \
        (first.applied_ids, first.duplicates, first.pairs)


def test_temporary_files_are_never_users_and_dead_writers_ones_are_cleaned(tmp_path):
    """A writer killed inside an atomic write leaves ``.tmp-<pid>-<uuid>-<user>.json``: never listed as a user;
    ``remove_stale_temporaries`` deletes it once its process is gone and keeps a live writer's."""
    import subprocess
    import sys

    store = ProfileStore(tmp_path)
    store.apply(0, "u-4", _updates(3))
    shard = next(tmp_path.glob("*/u-4.json")).parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (shard / f".tmp-{dead}-0123abcd-u-4.json").write_text('{"format": "taste2vec.stream-pro')  # half written
    import os

    live = shard / f".tmp-{os.getpid()}-89abcdef-u-4.json"
    live.write_text("{")
    assert list(store.users()) == ["u-4"] and store.get("u-4").events == 3
    assert store.remove_stale_temporaries() == 1
    assert sorted(p.name for p in shard.iterdir() if p.name.startswith(".tmp-")) == [live.name]
