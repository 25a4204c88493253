"""Bring your own records: a JSON-lines file of an app's tasting records, labelled with the coffee they taste.

One JSON object per line::

    {"item_id": "lot-0042", "user_id": "u17", "liked": true,
     "notes": "밝은 산미, jasmine and peach", "metrics": {"acidity": 8, "temperature": 93},
     "context": [{"hour": 8, "weekday": "mon", "location": "home"}]}

- ``item_id`` (required): the coffee or lot the record tastes; a non-empty string (or an integer) of at most
  200 characters. Two records of one item are a positive pair for training.
- ``user_id`` (optional): who wrote it; ``liked`` (optional bool) or ``rating`` (optional number in [0, 10];
  >= 7 counts as liked, <= 4 as disliked) feed the preference loss.
- everything else is a record-spec record (``notes``, ``metrics``, ``context``), validated by the SDK: any
  other key is refused, like any bad value.

The split is by item (sha256 of ``item_id``: 70 % train / 15 % val / 15 % test), so no item is in two splits.
A bad line raises :class:`RecordsFileError` naming the line, the field and what is allowed; with
``skip_invalid=True`` it is skipped and counted instead. Blank lines are ignored. Lines longer than
``MAX_LINE_BYTES`` and files with more than ``MAX_RECORDS`` records are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taste2vec.errors import InvalidTypeError, OutOfRangeError, RecordValidationError
from taste2vec.fileio import iter_lines
from taste2vec.records import TastingRecord

from .errors import ToolkitError
from .real_data import split_of

LABEL_KEYS = ("item_id", "user_id", "liked", "rating")
MAX_LINE_BYTES = 64 * 1024
MAX_RECORDS = 2_000_000
MAX_ID_CHARS = 200
LIKED_AT, DISLIKED_AT = 7.0, 4.0


class RecordsFileError(ToolkitError):
    """A line of a records file is not a valid labelled record.

    Attributes: ``line`` (1-based), ``field`` (dotted path, e.g. ``metrics.temperature``), ``reason``.
    """

    def __init__(self, path: str, line: int, field: str, reason: str) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, reason
        super().__init__(f"{path}:{line}: {reason}")


@dataclass(frozen=True)
class LabeledRecord:
    record: TastingRecord
    item_id: str
    user_id: str | None
    liked: bool | None  # None: no preference given (or a neutral rating)
    line: int

    @property
    def split(self) -> str:
        return split_of("item:" + self.item_id)


@dataclass
class RecordsFile:
    """The valid records of a file, and what was skipped."""

    path: Path
    records: list[LabeledRecord]
    skipped: list[RecordsFileError] = field(default_factory=list)
    sha256: str = ""  # of the bytes read

    def split(self, name: str) -> list[LabeledRecord]:
        return [r for r in self.records if r.split == name]

    def summary(self) -> dict[str, Any]:
        items = Counter(r.item_id for r in self.records)
        by_split = Counter(r.split for r in self.records)
        return {"path": str(self.path), "sha256": self.sha256, "records": len(self.records), "skipped": len(self.skipped),
                "skipped_by_field": dict(Counter(e.field for e in self.skipped).most_common()),
                "items": len(items), "items_with_pairs": sum(1 for c in items.values() if c >= 2),
                "users": len({r.user_id for r in self.records if r.user_id is not None}),
                "with_preference": sum(r.liked is not None for r in self.records),
                "split_records": {s: by_split.get(s, 0) for s in ("train", "val", "test")}}


def _id(path: str, line: int, name: str, value: Any, required: bool) -> str | None:
    if value is None:
        if required:
            raise RecordsFileError(path, line, name, f"{name}: missing (allowed: a non-empty string or an integer "
                                                     f"of at most {MAX_ID_CHARS} characters)")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordsFileError(path, line, name, f"{name}: expected a string or an integer, got "
                                                 f"{type(value).__name__}")
    text = str(value)
    if not text.strip() or len(text) > MAX_ID_CHARS:
        raise RecordsFileError(path, line, name, f"{name}: {text[:40]!r} is empty or too long (allowed: "
                                                 f"1 to {MAX_ID_CHARS} characters)")
    return text


def _preference(obj: dict[str, Any]) -> bool | None:
    liked, rating = obj.get("liked"), obj.get("rating")
    if liked is not None and not isinstance(liked, bool):
        raise InvalidTypeError("liked", f"expected true or false, got {type(liked).__name__}", "a boolean", liked)
    if rating is not None:
        if isinstance(rating, bool) or not isinstance(rating, (int, float)):
            raise InvalidTypeError("rating", f"expected a number, got {type(rating).__name__}",
                                   "a finite number in [0, 10]", rating)
        try:
            value = float(rating)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value) or not 0 <= value <= 10:
            raise OutOfRangeError("rating", f"value {rating!r} is out of range", "a finite number in [0, 10]", rating)
        if liked is None:
            return True if value >= LIKED_AT else False if value <= DISLIKED_AT else None
    return liked


def parse_line(text: str, path: str = "<records>", line: int = 1) -> LabeledRecord:
    """One line -> a labelled record, or :class:`RecordsFileError` naming the line and the field."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES:
        raise RecordsFileError(path, line, "record", f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise RecordsFileError(path, line, "record", f"not a JSON object ({str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise RecordsFileError(path, line, "record", f"expected a JSON object, got {type(obj).__name__}")
    try:
        item = _id(path, line, "item_id", obj.get("item_id"), required=True)
        user = _id(path, line, "user_id", obj.get("user_id"), required=False)
        liked = _preference(obj)
        record = TastingRecord.from_dict({k: v for k, v in obj.items() if k not in LABEL_KEYS})
    except RecordValidationError as e:
        raise RecordsFileError(path, line, e.field, str(e)) from None
    except (OverflowError, RecursionError) as e:  # e.g. 10**400 as a metric, absurd nesting
        raise RecordsFileError(path, line, "record", f"value not representable ({type(e).__name__})") from None
    return LabeledRecord(record, item, user, liked, line)


def read_records(path: str | Path, skip_invalid: bool = False) -> RecordsFile:
    """Read and validate a records file (see module docs)."""
    out = scan_records(path, skip_invalid)
    if not out.records:
        raise RecordsFileError(str(path), 0, "record", "no valid records")
    return out


def scan_records(path: str | Path, skip_invalid: bool = True) -> RecordsFile:
    """Every line of a records file checked: the valid records and, with ``skip_invalid``, every bad line (what
    ``taste2vec-reference validate`` reports); no valid record at all is not an error here."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"records file not found: {path}")
    out = RecordsFile(path, [])
    digest = hashlib.sha256()
    for n, text, problem in iter_lines(path, MAX_LINE_BYTES, digest):
        if text is not None and not text.strip():
            continue
        try:
            if text is None:
                raise RecordsFileError(str(path), n, "record", problem)
            out.records.append(parse_line(text, str(path), n))
        except RecordsFileError as e:
            if not skip_invalid:
                raise
            out.skipped.append(e)
        if len(out.records) + len(out.skipped) > MAX_RECORDS:
            raise RecordsFileError(str(path), n, "record", f"more than {MAX_RECORDS:,} records")
    out.sha256 = digest.hexdigest()
    return out
