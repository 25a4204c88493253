"""Check that a training run gives the same bytes on other x86-64 CPUs: ``taste2vec-reference repro-check``.

A small build on the real code path (MiniLM featurization, the teacher's LSTM / MLP / layer norm, the
contrastive and preference losses, the portable AdamW; the strict pins of :mod:`.determinism`, or with
``strict=False`` only the always-on ones) runs natively and then under ``qemu-x86_64`` emulating other CPUs (default: an Intel Skylake
with AVX2, and an Intel Nehalem without AVX). The SHA-256 of each resulting ``model.safetensors`` is compared.

qemu executes the same binaries on an emulated CPU: a library that picks its kernels by CPU vendor or
instruction set, or uses an instruction whose result the hardware only approximates (``rcpps`` / ``rsqrtps``),
shows up as a different hash. Emulation is ~50-100x slower, so the build is tiny (a few minutes per CPU).
Measured on an AMD EPYC host (docs/reproducible-builds.md): strict, the native and emulated-Skylake hashes are
equal; with PyTorch's AVX2 kernels, or MKL's AVX2 branch, or torch's float32 AdamW they differ.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from .determinism import PINNED_ENV, STRICT_FLAG
from .errors import ToolkitError

DEFAULT_CPUS = ("Skylake-Client", "Nehalem")
QEMU = ("qemu-x86_64-static", "qemu-x86_64")


class ReproCheckError(ToolkitError):
    """The check cannot run (no qemu, a run failed or timed out)."""


def mini_build(out: str | Path, steps: int = 20) -> dict[str, str]:
    """Train a tiny teacher into ``out`` (synthetic world only, frozen MiniLM); returns file name -> sha256."""
    from taste2vec.features import FeatureExtractor

    from .checkpoint import sha256_file
    from .model import TextFeaturizer
    from .synthetic import TasteWorld, WorldConfig
    from .text_tuning import TextTuneConfig
    from .train import TrainConfig, build_training_data, train

    cfg = TrainConfig(world=WorldConfig(n_coffees=120, n_users=24), steps=steps, pool_per_coffee=2,
                      batch_coffees=24, batch_users=6, use_real_reviews=False, log_every=5,
                      checkpoint_every=10_000, text=TextTuneConfig(layers=0))
    world = TasteWorld(cfg.world)
    featurizer = TextFeaturizer()
    data = build_training_data(cfg, world, featurizer, FeatureExtractor(world.lexicon))
    train(cfg, out, resume=False, progress=False, data=data, featurizer=featurizer)
    ck = Path(out) / "checkpoint"
    return {"model.safetensors": sha256_file(ck / "model.safetensors")}


def qemu_binary() -> str:
    """The qemu user-mode emulator for x86-64 on PATH."""
    for name in QEMU:
        if shutil.which(name):
            return name
    raise ReproCheckError("qemu-x86_64 not found: install it (Debian: apt-get install qemu-user-static)")


def _run(prefix: Sequence[str], out: Path, steps: int, timeout: float, strict: bool = True) -> dict[str, str]:
    cmd = [*prefix, sys.executable, "-m", "taste2vec_reference", "repro-run", "--out", str(out), "--steps", str(steps)]
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENV}  # the command line pins, not the caller
    if strict:
        env[STRICT_FLAG] = "1"
    else:
        env.pop(STRICT_FLAG, None)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise ReproCheckError(f"{' '.join(prefix) or 'native'}: no result within {timeout:.0f}s") from e
    if proc.returncode != 0:
        raise ReproCheckError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def repro_check(out: str | Path, cpus: Sequence[str] = DEFAULT_CPUS, steps: int = 20,
                timeout: float = 1800.0, strict: bool = True) -> dict:
    """The mini build natively and under qemu as each of ``cpus``; ``identical`` when every hash agrees."""
    out = Path(out)
    qemu = qemu_binary() if cpus else ""
    runs = []
    for label, prefix in [("native", [])] + [(f"qemu {c}", [qemu, "-cpu", c]) for c in cpus]:
        t0 = time.time()
        hashes = _run(prefix, out / label.replace(" ", "-"), steps, timeout, strict)
        runs.append({"cpu": label, "seconds": round(time.time() - t0, 1), **hashes})
        print(f"{label:<24} {runs[-1]['seconds']:>7.1f}s  model.safetensors {hashes['model.safetensors'][:16]}",
              flush=True)
    identical = len({r["model.safetensors"] for r in runs}) == 1
    return {"identical": identical, "steps": steps, "strict": strict, "runs": runs}
