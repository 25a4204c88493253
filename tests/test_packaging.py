"""Install layout: non-generic import names, and the SDK never pulls in torch / tensorflow / onnx."""

from __future__ import annotations

import subprocess
import sys


def _run_outside_checkout(code: str) -> subprocess.CompletedProcess:
    # cwd="/" because ``python -m pytest`` puts the working directory (the checkout) on sys.path
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")


def test_no_generic_top_level_modules():
    res = _run_outside_checkout(
        "import importlib.util as u, sys; "
        "found = [n for n in ('sdk', 'converters', 'reference_model') if u.find_spec(n)]; "
        "assert u.find_spec('taste2vec') and u.find_spec('taste2vec_reference'); print(found); "
        "sys.exit(1 if found else 0)")
    assert res.returncode == 0, res.stdout + res.stderr


def test_sdk_import_does_not_load_heavy_frameworks():
    res = _run_outside_checkout(
        "import sys, taste2vec; from taste2vec.features import FeatureExtractor; "
        "FeatureExtractor()({'notes': '초콜릿, bright'}); "
        "bad = [m for m in ('torch', 'tensorflow', 'onnx', 'onnxruntime') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_cold_start_path_leaves_personalization_and_curation_unloaded():
    """import + load + first embed (an app's cold start) loads neither taste2vec.profile nor taste2vec.curation;
    both load on first use, and ``from taste2vec import Catalog, TasteProfile`` still works."""
    res = _run_outside_checkout(
        "import sys, taste2vec; e = taste2vec.Embedder.create_default(); e.embed({'notes': 'jasmine'}); "
        "cold = sorted(m for m in ('taste2vec.profile', 'taste2vec.curation') if m in sys.modules); "
        "from taste2vec import Catalog, TasteProfile, recommend; "
        "assert Catalog.__module__ == 'taste2vec.curation' and TasteProfile.__module__ == 'taste2vec.profile'; "
        "print(cold); sys.exit(1 if cold else 0)")
    assert res.returncode == 0, res.stdout + res.stderr
