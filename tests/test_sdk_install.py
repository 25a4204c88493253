"""`pip install .` (no extras) into a fresh venv: the bundled model embeds, and no framework gets imported."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = r"""
import json, sys
from taste2vec import Embedder
with Embedder.create_default() as e:
    r = e.embed({"notes": "밝은 산미와 자스민, bright jasmine", "metrics": {"acidity": 7.5},
                 "context": [{"hour": 8, "weekday": "mon"}]})
heavy = [m for m in ("torch", "tensorflow", "onnx", "onnxruntime", "transformers", "starlette", "fastapi", "uvicorn",
                     "prometheus_client", "pyspark") if m in sys.modules]
print(json.dumps({"dim": len(r.embedding), "version": r.model_version, "runtime": e.runtime, "heavy": heavy}))
"""


@pytest.mark.slow
def test_plain_pip_install_embeds_without_frameworks(tmp_path):
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for d in ("sdk", "converters", "reference_model", "backend"):
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    inst = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(src)],
                          capture_output=True, text=True, timeout=900)
    assert inst.returncode == 0, inst.stdout[-3000:] + inst.stderr[-3000:]
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert not names & {"torch", "tensorflow", "tensorflow-cpu", "onnx", "onnxruntime", "starlette", "fastapi",
                        "uvicorn", "prometheus-client", "pyspark"}, names
    res = subprocess.run([str(py), "-c", SNIPPET], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"dim": 128, "version": (ROOT / "sdk/taste2vec/models/DEFAULT").read_text().strip(), "runtime": "ai_edge_litert", "heavy": []}
    cli = subprocess.run([str(env_dir / "bin" / "taste2vec"), "embed", "--notes", "jasmine"], capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 0 and len(json.loads(cli.stdout)["embedding"]) == 128
    # the server is an extra: without it `taste2vec serve` says how to get it, and fails cleanly
    serve = subprocess.run([str(env_dir / "bin" / "taste2vec"), "serve", "--port", "0"], capture_output=True,
                           text=True, timeout=120)
    assert serve.returncode == 2 and "taste2vec-edge[serve]" in serve.stderr, serve.stderr
