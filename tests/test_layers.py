"""Layers point one way: the SDK imports nothing of ours; the teacher knows nothing of its students; conversion knows
no operations (registering is the lifecycle's); the server and the stream need no torch.

Read from the source (every import statement, at any depth), so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"taste2vec", "taste2vec_reference", "taste2vec_convert", "taste2vec_backend"}
TRAINING = {"torch", "tensorflow", "transformers", "litert_torch", "ai_edge_quantizer", "onnx", "onnxruntime"}

# package folder -> the top-level modules its code must never import
FORBIDDEN = {
    "sdk/taste2vec": OURS - {"taste2vec"} | TRAINING | {"starlette", "uvicorn", "pyspark"},
    "reference_model/taste2vec_reference": {"taste2vec_convert", "taste2vec_backend"},
    "converters/taste2vec_convert": {"taste2vec_backend"},
    "backend/taste2vec_backend/server": OURS - {"taste2vec", "taste2vec_backend"} | TRAINING,
    "backend/taste2vec_backend/stream": OURS - {"taste2vec", "taste2vec_backend"} | TRAINING,
}
# the allowed exceptions, each with its reason
ALLOWED = {
    ("sdk/taste2vec/runtime.py", "tensorflow"): "tensorflow.lite: the last interpreter fallback, imported only when "
                                                 "neither ai-edge-litert nor tflite-runtime is installed",
    ("backend/taste2vec_backend/stream/demo.py", "taste2vec_reference"): "make stream-demo simulates users on the "
                                                                           "synthetic world (numpy only, no torch)",
}


def imported_modules(path: Path) -> set[tuple[str, int]]:
    """The top-level module of every import in a file, with its line."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {(a.name.split(".")[0], node.lineno) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(folder):
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    bad = [f"{f.relative_to(ROOT)}:{line} imports {mod}" for f in files
           for mod, line in sorted(imported_modules(f))
           if mod in FORBIDDEN[folder] and (str(f.relative_to(ROOT)), mod) not in ALLOWED]
    assert not bad, "\n".join(bad)


def test_sdk_and_conversion_do_not_name_the_backend():
    hits = [str(f.relative_to(ROOT)) for folder in ("sdk", "converters") for f in (ROOT / folder).rglob("*")
            if f.is_file() and f.suffix in {".py", ".md", ".cfg", ".toml", ".json"} and "build" not in f.parts
            and "taste2vec_backend" in f.read_text(encoding="utf-8", errors="replace")]
    assert not hits, hits


def test_the_import_scan_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from taste2vec_backend.lifecycle import stages\n    import torch.nn as nn\n")
    assert imported_modules(f) == {("taste2vec_backend", 2), ("torch", 3)}
