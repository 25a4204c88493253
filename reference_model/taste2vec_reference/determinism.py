"""Pinned floating-point paths, so that ``make model`` writes the same bytes on any x86-64 CPU.

Fixed seeds are not enough: the math libraries pick their kernels by CPU at run time, and kernels for
different instruction sets (SSE, AVX2, AVX-512) or vendors (MKL takes other paths on AMD than on Intel) add
floating-point numbers in different orders. 1.3.0 rebuilt on an AMD EPYC machine gave vectors equal to 4-5
digits but another ``model.tflite`` hash. :data:`PINNED_ENV` pins every library on the build path to one
portable code path:

================================  ==============================================================================
``ATEN_CPU_CAPABILITY=default``   PyTorch's own kernels (softmax, layer norm, GELU, reductions): the portable
                                  build, no AVX2 / AVX-512 dispatch
``MKL_CBWR=COMPATIBLE``           MKL (PyTorch's matrix products): Conditional Numerical Reproducibility, one
                                  code path on every x86 CPU, Intel or AMD
``ONEDNN_MAX_CPU_ISA=SSE41``      oneDNN (in PyTorch and TensorFlow): no AVX dispatch
``TF_ENABLE_ONEDNN_OPTS=0``       TensorFlow (used while converting): Eigen kernels, not oneDNN
``NPY_DISABLE_CPU_FEATURES=...``  numpy's own SIMD dispatch: baseline (x86-64-v2) loops only
``OPENBLAS_CORETYPE=Nehalem``     numpy's OpenBLAS (ridge probes, metrics in the manifest): one kernel set
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 2
                                  a fixed split of every parallel reduction (with ``torch.set_num_threads(2)``)
================================  ==============================================================================

Plus, in the process: ``torch.use_deterministic_algorithms(True)`` and 2 torch threads (:func:`pin_torch`),
and an optimizer whose square root is exact on every CPU (:func:`portable_adamw`: PyTorch's float32 ``sqrt``
is not, measured below).

What stays CPU-dependent: numbers *measured* with the LiteRT interpreter while exporting (the parity figures in
``manifest.json``, the vectors in ``golden_outputs.json``). XNNPACK picks its micro-kernels by instruction set
and has no switch to pin them; LiteRT's portable reference kernels would pin them but compute dynamic-int8
layers differently from what phones run (max abs difference 0.10 on one record measured), so they would not
describe the shipped model. Those files may differ in the last digits on a CPU with other vector units
(AVX-512 vs AVX2); ``taste2vec-convert compare`` then checks that ``model.tflite`` and the preprocessing files
are identical and the vectors agree within the documented tolerance.

The variables must be in the environment before the libraries load: ``make model`` exports them, and the
command lines call :func:`pin_environment` before their first ``import torch`` (a value already set is kept,
so you can override any of them). ``taste2vec-reference repro-check`` runs a small build natively and under
``qemu-x86_64`` as other CPUs and compares the bytes.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Mapping

BUILD_THREADS = 2

PINNED_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Nehalem",
    "OMP_NUM_THREADS": str(BUILD_THREADS),
    "MKL_NUM_THREADS": str(BUILD_THREADS),
}

_LOADED_TOO_EARLY = ("torch", "numpy", "tensorflow")


def pin_environment(environ: "os._Environ[str] | dict[str, str]" = os.environ) -> list[str]:
    """Set every :data:`PINNED_ENV` variable that is not set yet; returns the names it set.

    Call it before ``torch`` / ``numpy`` / ``tensorflow`` are imported: a library reads these once, when it
    loads. Raises RuntimeError when called on ``os.environ`` after one of them was loaded with a variable unset
    (the pin would silently not apply)."""
    missing = [k for k in PINNED_ENV if k not in environ]
    if environ is os.environ and missing:
        loaded = [m for m in _LOADED_TOO_EARLY if m in sys.modules]
        if loaded:
            raise RuntimeError(f"pin_environment() after {', '.join(loaded)} was imported: "
                               f"{', '.join(missing)} would not apply; call it first")
    for k in missing:
        environ[k] = PINNED_ENV[k]
    return missing


def pinned_state(environ: Mapping[str, str] = os.environ) -> dict[str, str | None]:
    """The value of each pinned variable in ``environ`` (None where unset)."""
    return {k: environ.get(k) for k in PINNED_ENV}


def is_pinned(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether every variable has its pinned value."""
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
