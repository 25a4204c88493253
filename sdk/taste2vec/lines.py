"""JSON lines of tasting records in, one JSON result per line out: the contract `taste2vec embed --jsonl` and the
Kotlin library's `make kotlin-embed` both implement, so a QA engineer can diff them line by line.

    taste2vec embed --jsonl records.jsonl > python.jsonl
    make kotlin-embed IN=records.jsonl > kotlin.jsonl

Every input line gives exactly one output line, in order:

- ``{"embedding": [128 floats], "model_version": "taste2vec-edge-1.4.2", "bucket": 16}`` for a record;
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
from typing import IO, Any, Iterator

from .embedder import Embedder
from .errors import InvalidTypeError, RecordValidationError, Taste2VecError
from .fileio import iter_stream_lines, json_depth
from .records import TastingRecord

MAX_LINE_BYTES = 16 * 1024 * 1024  # a record's notes are refused at 4,096 characters, far below this
MAX_LINE_DEPTH = 512  # a record nests 3 levels; Python's json stops near 1,000


def _refuse(message: str) -> InvalidTypeError:
    return InvalidTypeError("record", message, "one JSON object per line with keys notes, metrics, context")


def parse_line(text: str) -> Any:
    """One line's JSON value, read as ``json.loads`` does; :class:`InvalidTypeError` on ``record`` otherwise."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _refuse(f"nested deeper than {MAX_LINE_DEPTH} levels") from None
    except ValueError as e:  # JSONDecodeError, and integers longer than Python's digit limit
        raise _refuse(f"not valid JSON ({e})") from None
    if json_depth(value) > MAX_LINE_DEPTH:
        raise _refuse(f"nested deeper than {MAX_LINE_DEPTH} levels")
    return value


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
