"""The pinned floating-point paths: which variables, when they apply, and that the command lines set them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from taste2vec_reference.determinism import (PINNED_ENV, PORTABLE_ENV, STRICT_ENV, STRICT_FLAG, is_pinned,
                                             pin_environment, pinned_state)


def test_pin_environment_sets_what_is_missing_and_keeps_overrides():
    env = {"OPENBLAS_CORETYPE": "Haswell", "PATH": "/bin"}
    added = pin_environment(env)  # default: the always-on pins only
    assert "OPENBLAS_CORETYPE" not in added and env["OPENBLAS_CORETYPE"] == "Haswell"  # the user's choice is kept
    assert set(added) == set(PORTABLE_ENV) - {"OPENBLAS_CORETYPE"} and env["PATH"] == "/bin"
    assert not set(STRICT_ENV) & set(env) and not is_pinned(env)
    strict = {STRICT_FLAG: "1", "MKL_CBWR": "AVX2"}
    assert set(pin_environment(strict)) == set(PINNED_ENV) - {"MKL_CBWR"}
    assert strict["ATEN_CPU_CAPABILITY"] == "default" and strict["MKL_CBWR"] == "AVX2" and not is_pinned(strict)
    strict["MKL_CBWR"] = PINNED_ENV["MKL_CBWR"]
    assert is_pinned(strict) and pinned_state(strict) == PINNED_ENV
    assert pin_environment(strict) == []


def test_pinning_after_torch_loaded_is_refused(monkeypatch):
    import torch  # noqa: F401  (loaded: a late pin would silently not apply)

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    with pytest.raises(RuntimeError, match="after .*torch.* OPENBLAS_CORETYPE"):
        pin_environment()


@pytest.mark.parametrize("module,strict", [("taste2vec_reference", False), ("taste2vec_convert", True)])
def test_command_lines_pin_before_loading_torch(module, strict, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV and k != STRICT_FLAG}
    if strict:
        env[STRICT_FLAG] = "1"
    code = (f"import sys, os, json; sys.argv = ['x', '--help']\n"
            f"from {module}.cli import main\n"
            f"try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps({{k: os.environ.get(k) for k in {sorted(PINNED_ENV)!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {k: (v if strict or k in PORTABLE_ENV else None) for k, v in PINNED_ENV.items()}


def test_a_library_call_with_arguments_does_not_touch_the_environment(monkeypatch):
    from taste2vec_reference.cli import main

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "OPENBLAS_CORETYPE" not in os.environ


def test_portable_adamw_follows_torch_adamw_and_resumes_from_its_state():
    import torch

    from taste2vec_reference.determinism import portable_adamw

    def run(make, steps=25, state=None, seed=1):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))
        opt = make(net.parameters())
        if state is not None:
            net.load_state_dict(state[0])
            opt.load_state_dict(state[1])
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            x = torch.randn(32, 8, generator=g)
            loss = (net(x) - x[:, :4]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return net, opt

    ref, _ = run(lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05))
    ours, opt = run(lambda p: portable_adamw(p, lr=1e-2, weight_decay=0.05))
    for a, b in zip(ref.parameters(), ours.parameters()):
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    assert int(opt.state_dict()["state"][0]["step"]) == 25
    # a saved optimizer state resumes: 25 + 10 steps == 25 steps, save, load, 10 steps
    state = (copy.deepcopy(ours.state_dict()), copy.deepcopy(opt.state_dict()))
    resumed, _ = run(lambda p: portable_adamw(p, lr=1e-2, weight_decay=0.05), steps=10, state=copy.deepcopy(state), seed=2)
    again, _ = run(lambda p: portable_adamw(p, lr=1e-2, weight_decay=0.05), steps=10, state=copy.deepcopy(state), seed=2)
    fresh, _ = run(lambda p: portable_adamw(p, lr=1e-2, weight_decay=0.05), steps=10, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(resumed.parameters(), again.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(resumed.parameters(), fresh.parameters()))  # the loaded state was used


def test_repro_check_runs_the_build_in_fresh_processes_and_compares(tmp_path, monkeypatch):
    from taste2vec_reference import repro_check as rc

    res = rc.repro_check(tmp_path, cpus=(), steps=2, timeout=600, strict=False)
    first = res["runs"][0]["model.safetensors"]
    again = rc._run([], tmp_path / "again", 2, 600, strict=False)["model.safetensors"]
    assert res["identical"] and len(first) == 64 and again == first  # two processes, the same bytes
    monkeypatch.setattr(rc.shutil, "which", lambda name: None)
    with pytest.raises(rc.ReproCheckError, match="qemu-user-static"):
        rc.repro_check(tmp_path, cpus=("Nehalem",))


@pytest.mark.parametrize("module", ["taste2vec_convert", "taste2vec_reference"])
def test_command_lines_start_as_programs(module, tmp_path):
    """Run as programs, the command lines pin the math libraries first: importing them must not load numpy or
    torch before main() runs (pin_environment refuses that)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    if module == "taste2vec_convert":
        res = subprocess.run([sys.executable, "-m", module, "keygen", "--out", str(tmp_path), "--name", "k"],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0 and (tmp_path / "k.pub.pem").is_file(), res.stderr[-2000:]
        assert oct((tmp_path / "k.pem").stat().st_mode & 0o777) == "0o600"
