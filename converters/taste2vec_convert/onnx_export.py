"""The same student as ONNX (opset 17) for cloud inference, validated with onnxruntime.

``to_onnx(student, path)`` exports one graph with a dynamic batch and token-length axis (any bucket, any
batch size), and ``onnx_parity`` compares onnxruntime with PyTorch on real inputs.

Two other ONNX routes were named for TFLite conversion; what they do here:

- ``onnx-tf`` (1.10.0, the last release, 2022) fails at import with onnx >= 1.16 because ``onnx.mapping`` was
  removed: ``check_onnx_tf()`` reports that (it needs a separate environment where onnx-tf is installed;
  tests/test_onnx.py checks that the documented cause is real in this environment: ``onnx.mapping`` is absent).
- ``onnx2tf`` pins tensorflow 2.19 / numpy 1.26 / onnx 1.19 and so cannot share this environment; the
  optional ``make onnx2tf-check`` target builds its own venv (see converters/README.md).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from .student import INPUT_NAMES, OUTPUT_NAME, SignatureModule, Student, sample_inputs

OPSET = 17


def to_onnx(student: Student, path: str | Path, opset: int = OPSET) -> Path:
    """Export the student (eval mode) to ``path``; returns the path."""
    path = Path(path)
    module = SignatureModule(student.eval()).eval()
    sample = sample_inputs(student.cfg, student.cfg.buckets[0])
    dynamic = {name: {0: "batch"} for name in INPUT_NAMES}
    dynamic["token_ids"] = {0: "batch", 1: "tokens"}
    dynamic[OUTPUT_NAME] = {0: "batch"}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(sample[k] for k in INPUT_NAMES), str(path), input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT_NAME], dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    return path


def onnx_session(path: str | Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(session, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    feed = {k: np.asarray(inputs[k]) for k in INPUT_NAMES}
    return session.run([OUTPUT_NAME], feed)[0]


def check_onnx_tf() -> str:
    """Try the onnx-tf route; returns a one-line status (the import error with today's onnx)."""
    try:
        import onnx_tf  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as e:
        import onnx

        if not hasattr(onnx, "mapping"):
            return (f"onnx-tf unusable: onnx {onnx.__version__} has no onnx.mapping (removed in 1.16), which "
                    f"onnx-tf 1.10 imports ({type(e).__name__}: {e})")
        return f"onnx-tf not installed ({e})"
    return "onnx-tf imported (unexpected with onnx >= 1.16)"
