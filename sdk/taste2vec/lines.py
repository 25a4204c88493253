"""JSON lines of tasting records in, one JSON result per line out: the contract `taste2vec embed --jsonl` and the
Kotlin library's `make kotlin-embed` both implement, so a QA engineer can diff them line by line.

    taste2vec embed --jsonl records.jsonl > python.jsonl
    make kotlin-embed IN=records.jsonl > kotlin.jsonl
    taste2vec diff python.jsonl kotlin.jsonl          # vectors by cosine, errors by type and field

Every input line gives exactly one output line, in order:

- ``{"embedding": [128 floats], "model_version": "taste2vec-edge-1.8.0", "bucket": 16}`` for a record;
- ``{"error": {"type": "OutOfRangeError", "field": "metrics.acidity", "message": "..."}}`` for a bad line. ``type``
  is the SDK's error class (the Kotlin library's ``errorType``), ``field`` the dotted path of the offending field
  (``record`` when the line is not a JSON object at all; null for an error that no field caused).

A line is read as Python's ``json.loads`` reads it, so ``NaN`` / ``Infinity`` and integers too large for a float
reach validation and are refused naming their field. A line that is not UTF-8, not JSON, nested deeper than
:data:`MAX_LINE_DEPTH` or longer than :data:`MAX_LINE_BYTES` is an ``InvalidTypeError`` on ``record``, as the
SDK's ``embed(text)`` refuses such text; it never stops the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from .embedder import Embedder
from .errors import InvalidTypeError, RecordValidationError, Taste2VecError
from .fileio import iter_lines, iter_stream_lines, parse_json
from .records import TastingRecord

MAX_LINE_BYTES = 16 * 1024 * 1024  # a record's notes are refused at 4,096 characters, far below this
MAX_LINE_DEPTH = 512  # a record nests 3 levels; Python's json stops near 1,000


def _refuse(message: str) -> InvalidTypeError:
    return InvalidTypeError("record", message, "one JSON object per line with keys notes, metrics, context")


def parse_line(text: str) -> Any:
    """One line's JSON value, read as ``json.loads`` does; :class:`InvalidTypeError` on ``record`` otherwise."""
    return parse_json(text, _refuse, "a JSON line", MAX_LINE_BYTES, MAX_LINE_DEPTH, constants=True)


def error_result(e: Taste2VecError) -> dict[str, Any]:
    """The output line of an error: its type, field (None when no field caused it) and message."""
    field = e.field if isinstance(e, RecordValidationError) else None
    return {"error": {"type": type(e).__name__, "field": field, "message": str(e)}}


def line_result(embedder: Embedder, text: str | None, reason: str = "") -> dict[str, Any]:
    """The output line for one input line (``None`` with a ``reason``: a line that could not be read)."""
    try:
        if text is None:
            raise _refuse(reason)
        rec = TastingRecord.from_dict(parse_line(text))  # an object, not JSON text inside a string
        r = embedder.embed(rec)
    except Taste2VecError as e:
        return error_result(e)
    return {"embedding": [float(x) for x in r.embedding], "model_version": r.model_version, "bucket": r.bucket}


def dumps(result: dict[str, Any]) -> bytes:
    """One output line as UTF-8 with its newline: compact JSON, non-ASCII kept, floats written so they read back to
    the same float32; a lone surrogate (read from a ``\\ud800`` escape) is written as that escape again."""
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n"
    return text.encode("utf-8", "backslashreplace")  # only surrogates can fail, and only inside JSON strings


def embed_lines(embedder: Embedder, stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The result of every line of ``stream``, in order."""
    for _, text, reason in iter_stream_lines(stream, MAX_LINE_BYTES):
        yield line_result(embedder, text, reason)


@dataclass
class LinesDiff:
    """What :func:`diff_lines` found: counts, the worst vector agreement, and every line that differs."""

    vectors: int = 0
    errors: int = 0
    same_messages: int = 0
    min_cosine: float = 1.0
    max_abs_diff: float = 0.0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        return (f"{self.vectors} vectors (min cosine {self.min_cosine:.9f}, max abs diff {self.max_abs_diff:.3g}), "
                f"{self.errors} errors ({self.same_messages} with the same message), "
                f"{len(self.differences)} lines differ")


def _cosine(a: list[float], b: list[float]) -> float:
    u, v = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v / n) if n > 0 else -1.0


def diff_lines(expected: list[dict[str, Any]], got: list[dict[str, Any]], min_cosine: float = 0.9999) -> LinesDiff:
    """Compare two result files line by line: vectors by cosine (and bucket, model version), errors by type and
    field; messages are counted, not required (each language's JSON parser words syntax errors its own way)."""
    d = LinesDiff()
    if len(expected) != len(got):
        d.differences.append(f"{len(expected)} lines expected, {len(got)} given")
    for i, (e, g) in enumerate(zip(expected, got), 1):
        if "error" in e:
            d.errors += 1
            ge = g.get("error") or {}
            if (ge.get("type"), ge.get("field")) != (e["error"]["type"], e["error"]["field"]):
                d.differences.append(f"line {i}: {e['error']['type']} at {e['error']['field']} expected, got "
                                     f"{ge.get('type', 'a vector')} at {ge.get('field')}")
            d.same_messages += ge.get("message") == e["error"]["message"]
            continue
        d.vectors += 1
        if "embedding" not in g or (g.get("bucket"), g.get("model_version")) != (e["bucket"], e["model_version"]):
            d.differences.append(f"line {i}: a vector (bucket {e['bucket']}) expected, got {str(g)[:200]}")
            continue
        c = _cosine(e["embedding"], g["embedding"])
        d.min_cosine = min(d.min_cosine, c)
        d.max_abs_diff = max(d.max_abs_diff, float(np.max(np.abs(np.subtract(e["embedding"], g["embedding"])))))
        if c < min_cosine:
            d.differences.append(f"line {i}: cosine {c:.6f} < {min_cosine}")
    return d


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """A result file (one JSON object per line), bounded like any input."""
    out = []
    for n, text, reason in iter_lines(path, MAX_LINE_BYTES):
        if text is None:
            raise ValueError(f"{path}:{n}: {reason}")
        try:
            out.append(json.loads(text))
        except ValueError as e:
            raise ValueError(f"{path}:{n}: not a JSON result ({e})") from None
    return out
