"""Golden vectors: sample records -> tensors -> embedding, written to JSON for other language ports to match.

Two producers write the same format (``taste2vec.golden/1``):

- the conversion toolkit, while validating a model, stores ``golden_outputs.json`` in the bundle: the
  tensors it fed the TFLite model and the embedding it got (:func:`taste2vec_convert.golden`);
- this SDK (:func:`make_golden`, ``taste2vec golden``) writes the same cases through its own preprocessing.

:func:`compare_golden` checks one against an embedder: token ids and every input tensor exactly, the embedding
within ``atol`` (default 1e-5). The Android port's unit tests read the same file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .bundle import sha256_bytes
from .errors import Taste2VecError
from .fileio import read_json
from .lexicon import normalize_text
from .records import as_record

if TYPE_CHECKING:
    from .embedder import Embedder

GOLDEN_FORMAT = "taste2vec.golden/1"
SAMPLES_FORMAT = "taste2vec.samples/1"
DEFAULT_ATOL = 1e-5


class GoldenError(Taste2VecError):
    """A golden file is malformed or belongs to another model."""


def sample_records() -> list[tuple[str, dict[str, Any]]]:
    """The shipped sample records (``assets/sample_records.json``) as ``(name, record dict)`` pairs."""
    doc = json.loads(resources.files("taste2vec").joinpath("assets/sample_records.json").read_text(encoding="utf-8"))
    if doc.get("format") != SAMPLES_FORMAT:
        raise GoldenError(f"sample_records.json: format {doc.get('format')!r}, expected {SAMPLES_FORMAT}")
    return [(r["name"], r["record"]) for r in doc["records"]]


def encode_tensor(x: np.ndarray) -> dict[str, Any]:
    """A tensor as JSON: shape, dtype and the flat values (float32 values are exact as Python floats)."""
    x = np.asarray(x)
    kind = "int32" if np.issubdtype(x.dtype, np.integer) else "float32"
    flat = x.reshape(-1)
    data = [int(v) for v in flat] if kind == "int32" else [float(np.float32(v)) for v in flat]
    return {"shape": list(x.shape), "dtype": kind, "data": data}


def decode_tensor(d: Mapping[str, Any]) -> np.ndarray:
    dtype = np.int32 if d["dtype"] == "int32" else np.float32
    return np.asarray(d["data"], dtype=dtype).reshape(d["shape"])


def golden_case(name: str, record: Mapping[str, Any], tensors: Mapping[str, np.ndarray], tokens: Sequence[str],
                bucket: int, embedding: np.ndarray) -> dict[str, Any]:
    """One case of a golden file."""
    rec = as_record(record)
    return {"name": name, "record": rec.to_dict(), "normalized_notes": normalize_text(rec.notes),
            "tokens": list(tokens), "bucket": int(bucket),
            "inputs": {k: encode_tensor(v) for k, v in tensors.items()},
            "embedding": [float(v) for v in np.asarray(embedding, np.float32).reshape(-1)]}


def golden_document(model_id: str, model_bytes: bytes, producer: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": GOLDEN_FORMAT, "model": model_id, "model_sha256": sha256_bytes(model_bytes),
            "producer": producer, "tolerance": {"embedding_max_abs_diff": DEFAULT_ATOL, "inputs": "exact"},
            "cases": cases}


def make_golden(embedder: "Embedder", samples: Sequence[tuple[str, Mapping[str, Any]]] | None = None) -> dict[str, Any]:
    """Golden cases of ``samples`` (default: the shipped sample records) through this SDK's preprocessing.

    The embedding recorded is the model's raw output (``l2_normalize`` off), the number a port compares with.
    """
    cases = []
    for name, record in samples if samples is not None else sample_records():
        inputs = embedder.preprocess(record)
        raw = embedder.run(inputs)
        cases.append(golden_case(name, record, inputs.tensors, inputs.tokens, inputs.bucket, raw))
    return golden_document(embedder.model_version, embedder.bundle.model_bytes(), "taste2vec SDK (Python)", cases)


def write_golden(embedder: "Embedder", path: str | Path,
                 samples: Sequence[tuple[str, Mapping[str, Any]]] | None = None) -> Path:
    """Write :func:`make_golden` to ``path`` (UTF-8 JSON)."""
    path = Path(path)
    path.write_text(json.dumps(make_golden(embedder, samples), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


@dataclass
class GoldenComparison:
    """What :func:`compare_golden` found. ``ok`` when every case matched."""

    cases: int
    max_abs_diff: float
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def compare_golden(embedder: "Embedder", doc: Mapping[str, Any] | str | Path,
                   atol: float = DEFAULT_ATOL) -> GoldenComparison:
    """Re-run every case of a golden document with ``embedder``; inputs must match exactly, embeddings within
    ``atol``. Refuses a document made for another model."""
    if not isinstance(doc, Mapping):
        doc = read_json(doc, GoldenError, "golden file", max_bytes=64 << 20)
    if not isinstance(doc, Mapping) or doc.get("format") != GOLDEN_FORMAT:
        raise GoldenError(f"golden file format {doc.get('format') if isinstance(doc, Mapping) else None!r}, "
                          f"expected {GOLDEN_FORMAT}")
    if doc.get("model") != embedder.model_version or \
            doc.get("model_sha256") != sha256_bytes(embedder.bundle.model_bytes()):
        raise GoldenError(f"golden file is for {doc.get('model')} ({str(doc.get('model_sha256'))[:12]}), "
                          f"the embedder runs {embedder.model_version}")
    worst = 0.0
    bad: list[str] = []
    for case in doc["cases"]:
        name = case["name"]
        inputs = embedder.preprocess(case["record"])
        if list(inputs.tokens) != case["tokens"]:
            bad.append(f"{name}: tokens differ")
        if inputs.bucket != case["bucket"]:
            bad.append(f"{name}: bucket {inputs.bucket}, golden {case['bucket']}")
        for k, want in case["inputs"].items():
            got = inputs.tensors.get(k)
            ref = decode_tensor(want)
            if got is None or got.shape != ref.shape or not np.array_equal(got, ref):
                bad.append(f"{name}: input {k} differs")
        raw = embedder.run(inputs)
        diff = float(np.abs(raw - np.asarray(case["embedding"], np.float32)).max())
        worst = max(worst, diff)
        if not diff <= atol:
            bad.append(f"{name}: embedding max abs diff {diff:.3g} > {atol}")
    return GoldenComparison(len(doc["cases"]), worst, bad)
