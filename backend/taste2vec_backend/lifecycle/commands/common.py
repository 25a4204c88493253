"""What every ``taste2vec-lifecycle`` command shares: JSON output, bounded JSON-lines input, the staged registry
the command names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taste2vec.fileio import iter_lines, parse_json
from taste2vec.registry import INDEX, RegistryError
from taste2vec.signing import trust_from_args

MAX_EVENT_FILES = 100_000
MAX_EVENT_LINE_BYTES = 256 * 1024  # an event, item or record line is well under a kilobyte
MAX_EVENT_LINES = 5_000_000
MAX_EVENT_DEPTH = 8


def emit(obj: Any) -> None:
    """A command's result: JSON on stdout."""
    print(json.dumps(obj, indent=1, ensure_ascii=False, default=str))


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """A JSON-lines file as a list of objects: lines, nesting and line count bounded; ``ValueError`` naming the
    file and line for anything else (the CLI prints it and exits 2). A folder stands for its ``*.json`` and
    ``*.jsonl`` files, sorted (e.g. the stream's ``feedback/batch=<id>/part-*.json``; at most 100,000 files)."""
    folder = Path(path)
    files = [path]
    if folder.is_dir():
        files = sorted(str(p) for p in folder.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file()
                       and not p.name.startswith("."))
        if len(files) > MAX_EVENT_FILES:
            raise ValueError(f"{path}: more than {MAX_EVENT_FILES:,} files")
    out: list[dict[str, Any]] = []
    for name in files:
        for i, text, problem in iter_lines(name, MAX_EVENT_LINE_BYTES):
            if text is not None and not text.strip():
                continue
            if text is None:
                raise ValueError(f"{name}:{i}: {problem}")
            obj = parse_json(text, ValueError, f"{name}:{i}", max_bytes=MAX_EVENT_LINE_BYTES,
                             max_depth=MAX_EVENT_DEPTH)
            if not isinstance(obj, dict):
                raise ValueError(f"{name}:{i}: expected a JSON object, got {type(obj).__name__}")
            out.append(obj)
            if len(out) > MAX_EVENT_LINES:
                raise ValueError(f"{path}: more than {MAX_EVENT_LINES:,} lines")
    return out


def open_registry(args: Any, existing: bool = False):
    """The staged registry the command names; ``existing``: a command that only reads refuses a folder that is not
    there (a mistyped --registry would otherwise list an empty registry and exit 0)."""
    from ..stages import StagedRegistry

    root = Path(args.registry)
    if existing and not (root / INDEX).is_file():
        raise RegistryError(f"no registry at {root} (no {INDEX}): register a bundle first (taste2vec-lifecycle "
                            "register BUNDLE) or give --registry / $TASTE2VEC_REGISTRY")
    return StagedRegistry(root, **trust_from_args(args))
