"""Small file helpers shared by the registry, the stages file and rollout configs: crash-safe writes and
versioned JSON documents."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half of one: a fsynced
    temporary file ``.tmp-<uuid>-<name>`` beside it, then ``os.replace``; the temporary file is removed if that
    fails."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_document(path: str | Path, fmt: str, empty: Callable[[], dict[str, Any]],
                  error: type[Exception], what: str) -> dict[str, Any]:
    """A JSON document whose ``format`` must be ``fmt``; ``empty()`` when the file does not exist yet.

    Raises ``error`` naming the file for unreadable JSON (``"<path>: corrupt <what> (...)"``) or another format.
    """
    path = Path(path)
    if not path.exists():
        return empty()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise error(f"{path}: corrupt {what} ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"{path}: format {doc.get('format') if isinstance(doc, dict) else None!r}, expected {fmt}")
    return doc
