"""Floating-point paths pinned for reproducible builds: the same bytes from ``make model`` on other x86-64 CPUs.

Fixed seeds are not enough: the math libraries pick their kernels by CPU at run time, and kernels for
different instruction sets (SSE, AVX2, AVX-512) or vendors (MKL takes other paths on AMD than on Intel) add
floating-point numbers in different orders. 1.3.0 rebuilt on an AMD EPYC machine gave vectors equal to 4-5
digits but another ``model.tflite`` hash. Two levels:

**Always** (the command lines set these; cheap): :data:`PORTABLE_ENV`

=================================  =============================================================================
``TF_ENABLE_ONEDNN_OPTS=0``        TensorFlow (used while converting): Eigen kernels, not oneDNN
``NPY_DISABLE_CPU_FEATURES=...``   numpy's own SIMD dispatch: baseline (x86-64-v2) loops only
``OPENBLAS_CORETYPE=Nehalem``      numpy's OpenBLAS (ridge probes, metrics in the manifest): one kernel set
``OMP_NUM_THREADS`` /              a fixed split of every parallel reduction (with ``torch.set_num_threads(2)``)
``MKL_NUM_THREADS`` = 2
=================================  =============================================================================

plus ``torch.use_deterministic_algorithms(True)`` (:func:`pin_torch`) and an optimizer whose square root is exact
on every CPU (:func:`portable_adamw`; PyTorch's float32 ``sqrt`` is not, measured below).

**Strict** (``TASTE2VEC_STRICT_MATH=1``, ``make model STRICT_MATH=1``): :data:`STRICT_ENV` as well

=================================  =============================================================================
``ATEN_CPU_CAPABILITY=default``    PyTorch's own kernels (softmax, layer norm, GELU, reductions): the portable
                                   build, no AVX2 / AVX-512 dispatch
``MKL_CBWR=COMPATIBLE``            MKL (PyTorch's matrix products): Conditional Numerical Reproducibility, one
                                   code path on every x86 CPU, Intel or AMD
``ONEDNN_MAX_CPU_ISA=SSE41``       oneDNN (in PyTorch and TensorFlow): no AVX dispatch
=================================  =============================================================================

Strict is what makes the bytes CPU-independent (``taste2vec-reference repro-check``: natively on an AMD EPYC and
under ``qemu-x86_64`` as an Intel Skylake the probe's weights are byte-identical with it, different without),
and it is slow: SSE2 matrix products are ~3x slower than AVX2 ones and PyTorch's portable kernels slower still;
the text-encoder fine-tuning ran ~7x slower on 2 cores (one epoch 12 min instead of ~100 s), which puts a whole
``make model`` far beyond its 30-minute budget. So the default build is fast and CPU-dependent in the last bits,
and ``taste2vec-convert compare`` (run by ``make model``) is the documented check across machines.

What stays CPU-dependent even when strict: numbers *measured* with the LiteRT interpreter while exporting (the
parity figures in ``manifest.json``, the vectors in ``golden_outputs.json``). XNNPACK picks its micro-kernels by
instruction set and has no switch to pin them; LiteRT's portable reference kernels would pin them but compute
dynamic-int8 layers differently from what phones run (max abs difference 0.10 on one record measured), so they
would not describe the shipped model.

The variables must be in the environment before the libraries load: the command lines call
:func:`pin_environment` before their first ``import torch`` (a value already set is kept, so you can override
any of them).
"""

from __future__ import annotations

import math
import os
import sys
from typing import Mapping

BUILD_THREADS = 2

STRICT_FLAG = "TASTE2VEC_STRICT_MATH"

STRICT_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
}

PORTABLE_ENV: dict[str, str] = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Nehalem",
    "OMP_NUM_THREADS": str(BUILD_THREADS),
    "MKL_NUM_THREADS": str(BUILD_THREADS),
}

PINNED_ENV: dict[str, str] = {**PORTABLE_ENV, **STRICT_ENV}  # everything strict mode sets

_LOADED_TOO_EARLY = ("torch", "numpy", "tensorflow")


def strict_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``TASTE2VEC_STRICT_MATH=1`` asks for the strict (CPU-independent, slow) paths."""
    return environ.get(STRICT_FLAG, "") in ("1", "true", "yes")


def pin_environment(environ: "os._Environ[str] | dict[str, str]" = os.environ,
                    strict: bool | None = None) -> list[str]:
    """Set every :data:`PORTABLE_ENV` variable (and :data:`STRICT_ENV` when ``strict``, default: as
    :func:`strict_requested` says) that is not set yet; returns the names it set.

    Call it before ``torch`` / ``numpy`` / ``tensorflow`` are imported: a library reads these once, when it
    loads. Raises RuntimeError when called on ``os.environ`` after one of them was loaded with a variable unset
    (the pin would silently not apply)."""
    wanted = PINNED_ENV if (strict_requested(environ) if strict is None else strict) else PORTABLE_ENV
    missing = [k for k in wanted if k not in environ]
    if environ is os.environ and missing:
        loaded = [m for m in _LOADED_TOO_EARLY if m in sys.modules]
        if loaded:
            raise RuntimeError(f"pin_environment() after {', '.join(loaded)} was imported: "
                               f"{', '.join(missing)} would not apply; call it first")
    for k in missing:
        environ[k] = wanted[k]
    return missing


def pinned_state(environ: Mapping[str, str] = os.environ) -> dict[str, str | None]:
    """The value of each pinned variable in ``environ`` (None where unset)."""
    return {k: environ.get(k) for k in PINNED_ENV}


def is_pinned(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether every variable, strict ones included, has its pinned value (a CPU-independent build)."""
    return all(environ.get(k) == v for k, v in PINNED_ENV.items())


def pin_torch(threads: int = BUILD_THREADS) -> None:
    """Deterministic algorithms and a fixed thread count in this process (after ``import torch`` is fine)."""
    import torch

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def portable_adamw(params, lr: float, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                   eps: float = 1e-8):
    """AdamW (decoupled weight decay, bias-corrected; torch's defaults) whose result is the same on every CPU.

    ``torch.optim.AdamW`` takes the square root of the second moment in float32, and PyTorch's float32 ``sqrt``
    kernel is not correctly rounded on every CPU (measured: 4,082 of 24,576 values differ from the exact root
    on an AMD EPYC host, none under an emulated Intel CPU), so one optimizer step already differs between
    machines. Here that root is taken in float64 and rounded once (exact on every IEEE CPU); the other
    operations are +, x, / in a fixed order. Same update as torch's AdamW up to float rounding.
    """
    import torch

    class _PortableAdamW(torch.optim.Optimizer):
        def __init__(self) -> None:
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):  # noqa: D401 - torch's signature
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if not state:
                        state["step"] = torch.zeros((), dtype=torch.float64)
                        state["exp_avg"] = torch.zeros_like(p)
                        state["exp_avg_sq"] = torch.zeros_like(p)
                    state["step"] += 1
                    t = int(state["step"].item())
                    m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    m.mul_(b1).add_(g * (1 - b1))
                    v.mul_(b2).add_(g * g * (1 - b2))
                    denom = (v.double().sqrt() / math.sqrt(1 - b2 ** t)).float() + group["eps"]
                    p.sub_(m / denom * (group["lr"] / (1 - b1 ** t)))
            return loss

    return _PortableAdamW()
