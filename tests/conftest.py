"""Shared fixtures. Tests make their own small data; the frozen MiniLM is loaded once per session."""

from __future__ import annotations

import os

import pytest

# Three workers and their subprocesses share two cores: OpenMP threads that wait by spinning (libgomp's default)
# burn the cores other tests need; passive waiting changes no result (thread counts stay as pinned).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# the files that take minutes (the docs' retrain chain, Spark, servers under load, conversions, training) start
# first: pytest-xdist hands out whole files in collection order, and a long file taken last keeps one worker busy
# while the others idle
LONG_FILES_FIRST = ("test_docs.py", "test_stream_job.py", "test_server_hardening.py", "test_conversion.py",
                    "test_fuzz.py", "test_finetune.py", "test_training.py", "test_hostile_state.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file stays in one piece


@pytest.fixture(scope="session")
def benchmark_script():
    """``load(name)``: ``benchmarks/<name>.py`` as a module, with ``benchmarks/`` importable as when it runs as a
    script (the A/B scripts share ``benchmarks/revisions.py``)."""
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture(scope="session")
def featurizer():
    from taste2vec_reference.model import TextFeaturizer

    return TextFeaturizer()


@pytest.fixture(scope="session")
def embedder():
    """The SDK's default embedder (the shipped bundle), one per session."""
    from taste2vec import Embedder

    with Embedder.create_default() as e:
        yield e


@pytest.fixture(scope="session")
def lexicon():
    from taste2vec import SensoryLexicon

    return SensoryLexicon.default()


@pytest.fixture(scope="session")
def tiny_bundle_parts(lexicon, tmp_path_factory):
    """A random tiny student converted to TFLite, with a tokenizer: enough to build bundles in tests. Made once per
    run: pytest-xdist's workers share it through the run's temporary folder; with ``$TASTE2VEC_TEST_CACHE``
    (``make mutate`` sets it: thousands of short test runs) it is made once and kept there."""
    import os
    import pickle
    from pathlib import Path

    from taste2vec.fileio import file_lock

    cache = os.environ.get("TASTE2VEC_TEST_CACHE")
    if cache:
        folder = Path(cache)
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.getbasetemp().parent  # the same for every worker of this run
    else:
        return _tiny_bundle_parts(lexicon)
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / "tiny_bundle_parts.pkl"
    with file_lock(kept):  # the first worker converts, the others wait for its file
        if kept.exists():
            return pickle.loads(kept.read_bytes())
        parts = _tiny_bundle_parts(lexicon)
        kept.write_bytes(pickle.dumps(parts))
    return parts


def _tiny_bundle_parts(lexicon):
    import torch

    from taste2vec_convert.student import Student, StudentConfig, input_signature
    from taste2vec_convert.tflite import signature_name, to_tflite
    from taste2vec_convert.vocab import train_wordpiece

    tok = train_wordpiece(["bright jasmine", "밝은 산미"], vocab_size=5500, buckets=(8, 16))
    torch.manual_seed(0)
    cfg = StudentConfig(vocab_size=tok.vocab_size, buckets=(8, 16), d_model=32, n_layers=1, ff_dim=64,
                        lexicon_dim=lexicon.dim)
    student = Student(cfg).eval()
    meta = {"signatures": [{"name": signature_name(b, c), "inputs": input_signature(cfg, b, context=c),
                            "outputs": [{"name": "embedding", "shape": [1, 128], "dtype": "float32"}]}
                           for b in cfg.buckets for c in (True, False)],
            "quantization": {"variant": "float32", "description": "test"}}
    return to_tflite(student), tok, meta


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory):
    """A fresh Ed25519 key pair for this test session: (private key path, public key path)."""
    from taste2vec_convert.signing import generate_keypair

    return generate_keypair(tmp_path_factory.mktemp("keys"), "test")


@pytest.fixture(scope="session")
def trusted(signing_key):
    """``trusted_keys`` / ``allow_unsigned`` keyword arguments that accept bundles signed by the test key."""
    return {"trusted_keys": (signing_key[1],), "allow_unsigned": False}


@pytest.fixture()
def make_bundle(tiny_bundle_parts, tmp_path, signing_key):
    """Write a verified bundle into tmp_path (optionally under another version), signed by the session's test
    key unless ``signed=False``."""
    from taste2vec.lexicon import default_lexicon_path
    from taste2vec_convert.bundle_writer import write_bundle

    model, tok, meta = tiny_bundle_parts

    def make(version: str = "1.0.0", root=None, model_bytes: bytes | None = None, signed: bool = True):
        return write_bundle(root or tmp_path / "bundles", "taste2vec-test", version, model_bytes or model, tok,
                            default_lexicon_path(), meta, created="2026-01-01T00:00:00Z",
                            signing_key=signing_key[0] if signed else None)

    return make
