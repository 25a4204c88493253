"""`pip install . './backend[serve]'` into a fresh venv is the server without the training stack: no torch,
TensorFlow, transformers or litert-torch; `taste2vec-serve` starts and serves the SDK's vectors bit for bit."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINING = {"torch", "tensorflow", "tensorflow-cpu", "transformers", "litert-torch", "ai-edge-quantizer", "onnx",
            "onnxruntime", "jax", "pyspark", "taste2vec-toolkit"}


@pytest.mark.slow
def test_the_light_server_install_serves_the_sdks_vectors_without_the_training_stack(tmp_path):
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for d in ("sdk", "converters", "reference_model", "backend", "toolkit"):
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py, bin_ = env_dir / "bin" / "python", env_dir / "bin"
    inst = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(src),
                           f"{src / 'backend'}[serve]"], capture_output=True, text=True, timeout=900)
    assert inst.returncode == 0, inst.stdout[-3000:] + inst.stderr[-3000:]
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert {"taste2vec-edge", "taste2vec-backend", "starlette", "uvicorn"} <= names, names
    assert not names & TRAINING, names & TRAINING
    assert {p.name for p in bin_.iterdir() if p.name.startswith("taste2vec")} == \
        {"taste2vec", "taste2vec-bench", "taste2vec-serve", "taste2vec-lifecycle"}
    server = subprocess.Popen([str(bin_ / "taste2vec-serve"), "--port", "0", "--workers", "0", "--log-level",
                               "warning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        url = json.loads(server.stdout.readline())["listening"]
        record = {"notes": "밝은 산미, jasmine", "metrics": {"acidity": 7.5}}
        got = httpx.post(url + "/embed", json={"record": record}, timeout=60).json()
    finally:
        server.terminate()
        server.wait(30)
    sdk = subprocess.run([str(py), "-c", "import json, sys; from taste2vec import Embedder; e = Embedder.create_default();"
                          " print(json.dumps([float(x) for x in e.embed(json.loads(sys.argv[1])).embedding]))",
                          json.dumps(record)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert np.array_equal(np.float32(got["data"][0]["embedding"]), np.float32(json.loads(sdk.stdout)))
    # a command of the ML toolkit says what to install instead of a traceback
    ft = subprocess.run([str(bin_ / "taste2vec-lifecycle"), "finetune", "--checkpoint", "x", "--events", "e",
                         "--items", "i", "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert ft.returncode == 2 and "./toolkit" in ft.stderr and "Traceback" not in ft.stderr, ft.stderr
