"""taste2vec-lifecycle end to end: register -> stage -> rollout -> plan -> analyze --apply (promote) -> monitor
--apply (automatic rollback), each step through the CLI as an ML engineer runs it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taste2vec.rollout import RolloutConfig
from taste2vec_backend.lifecycle.cli import main

NAME = "taste2vec-test"


def run(capsys, *argv) -> dict:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)


def test_lifecycle_from_registration_to_automatic_rollback(make_bundle, tmp_path, capsys, monkeypatch, signing_key):
    reg = tmp_path / "reg"
    unsigned = make_bundle("0.9.0", root=tmp_path / "unsigned", signed=False)
    assert main(["register", str(unsigned.path), "--registry", str(reg)]) == 2  # refused: unsigned candidate
    assert "not signed" in capsys.readouterr().err
    monkeypatch.setenv("TASTE2VEC_TRUSTED_KEYS", str(signing_key[1]))  # what a CI job would set
    for v in ("1.0.0", "1.1.0"):
        assert run(capsys, "register", make_bundle(v).path, "--registry", reg)["version"] == v
    run(capsys, "stage", NAME, "1.0.0", "staging", "--registry", reg)
    run(capsys, "promote", NAME, "1.0.0", "--registry", reg, "--reason", "first release")
    rollout = tmp_path / "rollout.json"
    for arm, err in ((f"{NAME}-2.0.0", "rollout arm 'treatment': no model 'taste2vec-test-2.0.0'"),
                     ("../unsigned/taste2vec-test-0.9.0", "is not a <name>-<version> id")):
        assert main(["rollout-init", "--experiment", "exp", "--control", f"{NAME}-1.0.0", "--treatment", arm,
                     "--out", str(rollout), "--registry", str(reg)]) == 2  # not registered: refused, nothing written
        assert err in capsys.readouterr().err and not rollout.exists()
    run(capsys, "rollout-init", "--experiment", "exp", "--control", f"{NAME}-1.0.0", "--treatment",
        f"{NAME}-1.1.0", "--traffic", 50, "--out", rollout, "--registry", reg)
    design = tmp_path / "design.json"
    plan = run(capsys, "plan", "--p-control", 0.3, "--mde", 0.2, "--out", design)
    assert plan["design"]["max_n"] > 0 and len(plan["design"]["boundaries"]) == 5
    assert plan["design"]["lift"] == 0.2 and plan["meaning"]["users_total_max"] == 2 * plan["design"]["max_n"]
    assert json.loads(design.read_text()) == plan["design"]

    rng = np.random.default_rng(0)
    cfg = RolloutConfig.load(rollout)
    lines = []
    for u in range(3000):
        uid = f"user-{u}"
        variant = cfg.assign(uid).name
        for _ in range(3):
            lines.append({"user_id": uid, "experiment": "exp", "variant": variant, "type": "shown"})
            if rng.random() < (0.40 if variant == "treatment" else 0.30):
                lines.append({"user_id": uid, "experiment": "exp", "variant": variant, "type": "like"})
    events = tmp_path / "feedback.jsonl"
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    res = run(capsys, "analyze", "--events", events, "--experiment", "exp", "--design", design, "--rollout", rollout,
              "--registry", reg, "--apply")
    assert res["decision"]["action"] == "promote"
    assert res["applied"]["stage"] == "production"
    assert RolloutConfig.load(rollout).variant("treatment").traffic == 100.0
    status = run(capsys, "status", NAME, "--registry", reg)
    assert status["versions"] == {"1.1.0": "production", "1.0.0": "archived"}

    device = tmp_path / "device.jsonl"
    dev = [{"type": "latency", "model": f"{NAME}-1.1.0", "latency_ms": 2.0} for _ in range(300)]
    dev += [{"type": "error", "model": f"{NAME}-1.1.0", "error": "ModelRuntimeError"} for _ in range(30)]
    device.write_text("\n".join(json.dumps(x) for x in dev) + "\n")
    assert main(["monitor", "--events", str(device), "--rollout", str(rollout), "--registry", str(reg)]) == 1
    capsys.readouterr()
    mon = run(capsys, "monitor", "--events", device, "--rollout", rollout, "--registry", reg, "--apply")
    assert mon["violations"] and any("restored" in a for a in mon["actions"])
    assert run(capsys, "status", NAME, "--registry", reg)["versions"] == {"1.1.0": "archived", "1.0.0": "production"}
    assert RolloutConfig.load(rollout).variant("treatment").model == f"{NAME}-1.0.0"


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    assert main(["assign", "--config", str(tmp_path / "missing.json"), "--user", "u"]) == 2
    assert "cannot read rollout config" in capsys.readouterr().err


def test_one_registry_surface_with_one_default_path(make_bundle, tmp_path, capsys, monkeypatch, signing_key):
    """register / list / show / rollout-set all use $TASTE2VEC_REGISTRY (else runs/registry) without --registry,
    print JSON, and rollout-set refuses a config whose arms are not registered."""
    monkeypatch.setenv("TASTE2VEC_TRUSTED_KEYS", str(signing_key[1]))
    monkeypatch.setenv("TASTE2VEC_REGISTRY", str(tmp_path / "default-reg"))
    for v in ("1.0.0", "1.1.0"):
        run(capsys, "register", make_bundle(v).path, "--reason", "nightly")
    listed = run(capsys, "list")
    assert listed["registry"] == str(tmp_path / "default-reg")
    assert [(m["model_id"], m["stage"]) for m in listed["models"]] == [(f"{NAME}-1.1.0", "candidate"),
                                                                         (f"{NAME}-1.0.0", "candidate")]
    shown = run(capsys, "show", NAME, "1.0.0")
    assert shown["stage"] == "candidate" and shown["manifest"]["version"] == "1.0.0"
    assert [(h["to"], h["reason"]) for h in shown["history"]] == [("candidate", "nightly")]
    rollout = tmp_path / "rollout.json"
    run(capsys, "rollout-init", "--experiment", "e", "--control", f"{NAME}-1.0.0", "--treatment", f"{NAME}-1.1.0",
        "--out", rollout)
    # one arm named: the other gets the rest (the README's `--traffic treatment=50`)
    cfg = run(capsys, "rollout-set", "--config", rollout, "--traffic", "treatment=50")
    assert {v["name"]: v["traffic"] for v in cfg["variants"]} == {"control": 50.0, "treatment": 50.0}
    for bad in ("treatment=150", "treatment", "nobody=10"):
        assert main(["rollout-set", "--config", str(rollout), "--traffic", bad]) == 2
        assert bad.split("=")[0] in capsys.readouterr().err
    # a config pointing at a model the registry does not have is refused, and the file is left as it was
    doc = json.loads(rollout.read_text())
    doc["variants"][1]["model"] = f"{NAME}-9.9.9"
    rollout.write_text(json.dumps(doc))
    assert main(["rollout-set", "--config", str(rollout), "--traffic", "treatment=10"]) == 2
    assert "rollout arm 'treatment'" in capsys.readouterr().err and json.loads(rollout.read_text()) == doc
    # status has no --reason: it changes nothing
    with pytest.raises(SystemExit) as exc:
        main(["status", NAME, "--reason", "x"])
    assert exc.value.code == 2 and "unrecognized arguments: --reason" in capsys.readouterr().err


def test_a_missing_or_damaged_registry_exits_2_with_one_line(make_bundle, tmp_path, capsys, signing_key):
    assert main(["list", "--registry", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no registry at" in err[0]
    reg = tmp_path / "reg"
    run(capsys, "register", make_bundle("1.0.0").path, "--registry", reg, "--trusted-key", signing_key[1])
    (reg / "stages.json").write_text('{"format": "taste2vec.stages/1", "models": {"taste2vec-test": {"stages": []}}}')
    for argv in (["list"], ["status", NAME], ["show", NAME, "1.0.0"]):
        assert main(argv + ["--registry", str(reg), "--trusted-key", str(signing_key[1])]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "stages.json: models.taste2vec-test.stages: expected" in err[0], err


def test_promoting_an_older_version_needs_allow_downgrade_and_rollback_is_marked(make_bundle, tmp_path, capsys,
                                                                                signing_key):
    from taste2vec_backend.lifecycle.stages import StagedRegistry

    reg = ["--registry", str(tmp_path / "reg"), "--trusted-key", str(signing_key[1])]
    for v in ("1.0.0", "1.1.0"):
        run(capsys, "register", make_bundle(v).path, *reg)
        run(capsys, "stage", NAME, v, "staging", *reg)
    run(capsys, "promote", NAME, "1.1.0", *reg)
    assert main(["promote", NAME, "1.0.0", *reg]) == 2
    assert "older than 1.1.0" in capsys.readouterr().err
    staged = StagedRegistry(tmp_path / "reg")
    assert staged.production(NAME) == "1.1.0" and not staged.downgrade_intended(NAME, "1.1.0")
    run(capsys, "promote", NAME, "1.0.0", "--allow-downgrade", *reg)
    assert staged.production(NAME) == "1.0.0" and staged.downgrade_intended(NAME, "1.0.0")
    run(capsys, "stage", NAME, "1.1.0", "staging", *reg)
    run(capsys, "promote", NAME, "1.1.0", *reg)
    assert run(capsys, "rollback", NAME, *reg)["production"] == "1.0.0"
    assert staged.downgrade_intended(NAME, "1.0.0")  # a rollback is a deliberate downgrade
