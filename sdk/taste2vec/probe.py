"""Run a model file once in a child process before anyone relies on it.

A flatbuffer can pass every hash and signature check and still crash the interpreter (a damaged tensor table can
end in SIGSEGV inside native code, which no ``try`` catches). Tools that accept model files from elsewhere -
``taste2vec-convert verify`` and the registry's ``register`` - therefore load the model and run every signature
on sample inputs in a separate process first, and refuse it, with the reason, when that process dies, hangs or
reports an error. The calling process never touches the model until the child has survived it.

    probe_model(model_bytes)        # -> {"buckets": [16, 32, ...], "outputs_finite": True}; ModelRuntimeError
    python -m taste2vec.probe FILE  # the child's side: prints one JSON line
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from .runtime import ModelRuntimeError, TasteModel

PROBE_TIMEOUT_S = 120.0


def _sample(shape: list[int], dtype: Any, rng: np.random.Generator, kind: str) -> np.ndarray:
    if np.dtype(dtype) == np.int32:
        return rng.integers(0, 100, size=shape).astype(np.int32) if kind == "random" else np.zeros(shape, np.int32)
    if kind == "random":
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return np.zeros(shape, np.float32)


def run_probe(model_bytes: bytes) -> dict[str, Any]:
    """In this process: load the model and run every bucket on zero and random inputs (the child's work)."""
    model = TasteModel(model_bytes)
    rng = np.random.default_rng(0)
    finite = True
    for b in model.buckets:
        details = model.input_details(b)
        for kind in ("zeros", "random"):
            out = model.run({k: _sample(list(d["shape"]), d["dtype"], rng, kind) for k, d in details.items()})
            finite = finite and bool(np.isfinite(out).all())
    return {"buckets": list(model.buckets), "outputs_finite": finite, "runtime": model.runtime}


def probe_model(model_bytes: bytes, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """Run :func:`run_probe` in a child Python; ModelRuntimeError naming why if the child dies, hangs or errs."""
    fd, path = tempfile.mkstemp(suffix=".tflite", prefix="taste2vec-probe-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model_bytes)
        try:
            proc = subprocess.run([sys.executable, "-m", "taste2vec.probe", path], capture_output=True, text=True,
                                  timeout=timeout, env={**os.environ, "PYTHONFAULTHANDLER": "0"})
        except subprocess.TimeoutExpired:
            raise ModelRuntimeError(f"the model did not finish a probe run within {timeout:.0f} s") from None
    finally:
        os.unlink(path)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise ModelRuntimeError(f"the LiteRT interpreter crashed ({name}) while loading or running this model")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if proc.returncode != 0 or not result.get("ok"):
        reason = result.get("error") or (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ModelRuntimeError(f"the model failed its probe run: {reason}")
    if not result.get("outputs_finite"):
        raise ModelRuntimeError("the model produced non-finite outputs on sample inputs")
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        with open(args[0], "rb") as f:
            res = {"ok": True, **run_probe(f.read())}
    except Exception as e:  # noqa: BLE001 - the parent needs the reason, whatever it is
        res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
