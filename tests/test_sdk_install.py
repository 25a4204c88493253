"""`pip install .` into a fresh venv is the SDK distribution alone: the bundled model embeds, no framework gets
imported, and neither the toolkit's packages nor its CLIs are there."""

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
    # the whole repository's role folders, so that nothing but packaging keeps the toolkit out
    for d in ("sdk", "converters", "reference_model", "backend", "toolkit"):
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    inst = subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(src)],
                          capture_output=True, text=True, timeout=900)
    assert inst.returncode == 0, inst.stdout[-3000:] + inst.stderr[-3000:]
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert "taste2vec-edge" in names and "taste2vec-toolkit" not in names, names
    assert not names & {"torch", "tensorflow", "tensorflow-cpu", "onnx", "onnxruntime", "starlette", "fastapi",
                        "uvicorn", "prometheus-client", "pyspark"}, names
    res = subprocess.run([str(py), "-c", SNIPPET], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"dim": 128, "version": (ROOT / "sdk/taste2vec/models/DEFAULT").read_text().strip(), "runtime": "ai_edge_litert", "heavy": []}
    cli = subprocess.run([str(env_dir / "bin" / "taste2vec"), "embed", "--notes", "jasmine"], capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode == 0 and len(json.loads(cli.stdout)["embedding"]) == 128
    # the SDK's two CLIs, none of the toolkit's; no toolkit module importable
    bins = {p.name for p in (env_dir / "bin").iterdir() if p.name.startswith("taste2vec")}
    assert bins == {"taste2vec", "taste2vec-bench"}, bins
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in ('taste2vec_reference', "
                            "'taste2vec_convert', 'taste2vec_backend') if u.find_spec(m)])"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    # the server is the toolkit's: `taste2vec-serve` says how to get it, and fails cleanly
    serve = subprocess.run([str(env_dir / "bin" / "taste2vec"), "serve", "--port", "0"], capture_output=True,
                           text=True, timeout=120)
    assert serve.returncode == 2 and "./backend[serve]" in serve.stderr, serve.stderr
