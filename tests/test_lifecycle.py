"""Model lifecycle: registry stages (atomic, nothing lost), the experiment decision rule on simulated experiments,
device monitoring with guard rails and automatic rollback."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from taste2vec.rollout import RolloutConfig, RolloutVariant
from taste2vec_backend.lifecycle.experiment import (ArmStats, SequentialDesign, arm_metrics, decide,
                                                    fixed_sample_size, simulate, two_proportion_ztest)
from taste2vec_backend.lifecycle.monitoring import (EmbeddingStats, GuardRails, auto_rollback, check_guard_rails,
                                                    model_health)
from taste2vec_backend.lifecycle.stages import StagedRegistry, StageError

NAME = "taste2vec-test"


@pytest.fixture()
def staged(make_bundle, tmp_path, trusted):
    reg = StagedRegistry(tmp_path / "reg", **trusted)
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        reg.register(make_bundle(v).path)
    return reg


# ---------------------------------------------------------------------------------------------- stages
def test_stages_promote_archive_and_rollback_keep_every_version(staged):
    assert staged.versions(NAME, "candidate") == ["1.2.0", "1.1.0", "1.0.0"]
    staged.transition(NAME, "1.0.0", "staging")
    assert staged.promote(NAME, "1.0.0", "first release") is None
    staged.transition(NAME, "1.1.0", "staging")
    assert staged.promote(NAME, "1.1.0", "experiment won") == "1.0.0"
    assert staged.stage(NAME, "1.0.0") == "archived" and staged.production(NAME) == "1.1.0"
    assert staged.rollback(NAME, "guard rail") == "1.0.0"
    assert staged.production(NAME) == "1.0.0" and staged.stage(NAME, "1.1.0") == "archived"
    assert len(staged.versions(NAME)) == 3  # nothing deleted
    for v in staged.versions(NAME):
        staged.registry.load(NAME, v)  # every bundle still verifies
    moves = [(h["version"], h["from"], h["to"]) for h in staged.history(NAME)]
    assert moves[-2:] == [("1.1.0", "production", "archived"), ("1.0.0", "archived", "production")]


def test_only_staging_can_be_promoted_and_production_is_not_edited_by_hand(staged):
    with pytest.raises(StageError, match="only a staging version"):
        staged.promote(NAME, "1.2.0")
    staged.transition(NAME, "1.2.0", "staging")
    staged.promote(NAME, "1.2.0")
    with pytest.raises(StageError, match="not allowed"):
        staged.transition(NAME, "1.2.0", "archived")
    with pytest.raises(StageError, match="no earlier production"):
        staged.rollback(NAME)


def test_an_interrupted_promotion_leaves_the_previous_state(staged, monkeypatch):
    staged.transition(NAME, "1.0.0", "staging")
    staged.promote(NAME, "1.0.0")
    staged.transition(NAME, "1.1.0", "staging")
    before = (staged.root / "stages.json").read_bytes()

    def crash(src, dst):
        raise OSError("power loss during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power loss"):
        staged.promote(NAME, "1.1.0")
    monkeypatch.undo()
    assert (staged.root / "stages.json").read_bytes() == before  # neither half of the promotion happened
    assert staged.production(NAME) == "1.0.0" and staged.stage(NAME, "1.1.0") == "staging"
    assert not list(staged.root.glob(".tmp-*"))
    assert staged.promote(NAME, "1.1.0") == "1.0.0"  # and it can be retried


# ---------------------------------------------------------------------------------------------- experiments
@pytest.fixture(scope="module")
def design():
    return SequentialDesign.plan(0.30, lift=0.15, margin=0.05, alpha=0.05, power=0.8, looks=5, paths=100_000)


def test_sample_size_and_boundaries(design):
    n = fixed_sample_size(0.30, 0.15, margin=0.05)
    assert 3000 < n < 5000 and design.max_n >= n  # group-sequential costs a few percent more at most
    assert design.inflation < 1.1
    b = design.boundaries
    assert all(x > y for x, y in zip(b, b[1:])) and b[-1] > 1.96  # strict early, near fixed-horizon at the end


def test_decision_rule_on_simulated_experiments(design):
    better = simulate(0.30, 0.30 * 1.15, design, repeats=400, seed=1)
    worse = simulate(0.30, 0.30 * 0.85, design, repeats=400, seed=2)
    equal = simulate(0.30, 0.30, design, repeats=400, seed=3)
    assert better.rates["promote"] > 0.7 and better.rates["rollback"] == 0.0
    assert worse.rates["rollback"] > 0.7 and worse.rates["promote"] == 0.0
    assert equal.rates["promote"] + equal.rates["rollback"] <= 0.02  # equal models stay in production
    assert better.mean_n < design.max_n  # clear winners stop early


def test_false_alarm_rate_stays_near_alpha_when_checked_repeatedly():
    # margin 0: H0 "equal" is the boundary, so the rate of any decision is the false-alarm rate
    d = SequentialDesign.plan(0.30, lift=0.15, margin=0.0, alpha=0.05, looks=5, paths=100_000)
    seq = simulate(0.30, 0.30, d, repeats=2000, seed=4)
    naive = simulate(0.30, 0.30, d, repeats=2000, seed=4, naive=True)
    seq_alarm = seq.rates["promote"] + seq.rates["rollback"]
    naive_alarm = naive.rates["promote"] + naive.rates["rollback"]
    assert abs(seq_alarm - 0.05) < 0.02  # 2000 repeats: sd ~0.005
    assert naive_alarm > 0.09  # peeking at a plain z-test five times roughly doubles it


def test_metrics_from_feedback_events_and_a_decision():
    rng = np.random.default_rng(0)
    events = []
    for u in range(4000):
        variant = "treatment" if u % 2 else "control"
        p = 0.36 if variant == "treatment" else 0.30
        for k in range(3):
            events.append({"user_id": f"u{u}", "experiment": "e", "variant": variant, "type": "shown",
                           "time": 86400 * k * 4})
            if rng.random() < p:
                events.append({"user_id": f"u{u}", "experiment": "e", "variant": variant, "type": "like",
                               "time": 86400 * k * 4})
    m = arm_metrics(events, "e")
    a, b = m["control"]["like_rate"], m["treatment"]["like_rate"]
    assert a.n == b.n == 6000 and 0.28 < a.rate < 0.32 and 0.34 < b.rate < 0.38
    assert m["control"]["retention_7d"].rate == 1.0  # every user came back 8 days later
    z, p = two_proportion_ztest(a, b)
    assert z > 4 and p < 1e-4
    d = SequentialDesign.plan(0.30, lift=0.20, margin=0.05, paths=50_000)
    assert decide(a, b, d).action == "promote"
    assert decide(b, a, d).action == "rollback"
    with pytest.raises(ValueError, match="event type"):
        arm_metrics([{"experiment": "e", "variant": "x", "type": "swipe", "user_id": "u"}], "e")
    with pytest.raises(ValueError):
        ArmStats(10, 11)


# ---------------------------------------------------------------------------------------------- monitoring
def _device_events(model, latency_ms, errors, vectors, n=400):
    ev = [{"type": "latency", "model": model, "latency_ms": latency_ms} for _ in range(n)]
    ev += [{"type": "error", "model": model, "error": "ModelRuntimeError", "kind": "runtime"} for _ in range(errors)]
    ev += [{"type": "error", "model": model, "error": "OutOfRangeError", "kind": "input"} for _ in range(50)]
    ev.append({"type": "embedding_stats", "model": model, **EmbeddingStats.of(vectors).to_dict()})
    return ev


def test_guard_rails_and_automatic_rollback(staged, tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2000, 16))
    staged.transition(NAME, "1.0.0", "staging")
    staged.promote(NAME, "1.0.0")
    staged.transition(NAME, "1.1.0", "staging")
    staged.promote(NAME, "1.1.0")
    rollout = RolloutConfig("exp", (RolloutVariant("control", f"{NAME}-1.1.0", 80.0),
                                    RolloutVariant("treatment", f"{NAME}-1.2.0", 20.0)))
    path = rollout.save(tmp_path / "rollout.json")
    refs = {f"{NAME}-1.1.0": EmbeddingStats.of(ref), f"{NAME}-1.2.0": EmbeddingStats.of(ref)}
    healthy = model_health(_device_events(f"{NAME}-1.1.0", 3.0, 0, rng.normal(size=(1000, 16))), refs)
    assert check_guard_rails(healthy) == [] and auto_rollback([], path, staged) == []
    h = healthy[f"{NAME}-1.1.0"]
    assert h.input_errors == 50 and h.error_rate == 0.0 and h.drift["max_mean_shift_sd"] < 0.2

    # the treatment drifts (a shifted dimension) and errors: it loses its traffic
    shifted = rng.normal(size=(1000, 16))
    shifted[:, 3] += 1.0
    sick = model_health(_device_events(f"{NAME}-1.2.0", 3.0, 20, shifted), refs)
    rails = {v.rail for v in check_guard_rails(sick)}
    assert rails == {"error_rate", "max_mean_shift_sd"}
    actions = auto_rollback(check_guard_rails(sick), path, staged)
    cfg = RolloutConfig.load(path)
    assert cfg.variant("treatment").traffic == 0.0 and cfg.variant("control").traffic == 100.0 and cfg.revision == 2
    assert staged.production(NAME) == "1.1.0" and len(actions) == 1

    # the production model gets slow on devices: the registry rolls back and the control follows
    slow = model_health(_device_events(f"{NAME}-1.1.0", 80.0, 0, rng.normal(size=(1000, 16))), refs)
    assert [v.rail for v in check_guard_rails(slow, GuardRails(p99_latency_ms=50))] == ["p99_latency_ms"]
    auto_rollback(check_guard_rails(slow), path, staged)
    assert staged.production(NAME) == "1.0.0" and staged.stage(NAME, "1.1.0") == "archived"
    assert RolloutConfig.load(path).variant("control").model == f"{NAME}-1.0.0"
    assert json.loads(path.read_text())["revision"] == 3
