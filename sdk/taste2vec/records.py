"""Tasting records: typed, validated dataclasses that follow the record spec.

A record may give any subset of fields: empty notes, any of the 20 metrics, and 0..8 context
snapshots (each with any subset of its fields). A missing value is *missing* (``None`` or absent),
never silently 0. Invalid input raises a subclass of :class:`~taste2vec.errors.RecordValidationError`
that names the field and its allowed range.

    >>> rec = TastingRecord(notes="bright, jasmine, no bitterness", metrics={"acidity": 7.5})
    >>> rec.metrics["acidity"]
    7.5
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .errors import (
    InvalidTypeError,
    NonFiniteValueError,
    OutOfRangeError,
    UnknownCategoryError,
    UnknownFieldError,
)
from .fileio import parse_json
from .spec import ContextFieldSpec, MetricSpec, RecordSpec, default_spec


def _check_number(path: str, value: Any, lo: float, hi: float, allowed: str, integer: bool = False) -> float:
    cls = type(value)
    if (cls is float or cls is int) and lo <= value <= hi and (cls is int or not integer or value.is_integer()):
        return float(value)  # the common case, decided without the checks below (NaN fails the range test)
    # bool is a numbers.Number in Python; a True temperature is a bug, not 1 degree.
    if cls is not float and cls is not int and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise InvalidTypeError(path, f"expected {'an integer' if integer else 'a number'}, got "
                               f"{type(value).__name__}", allowed, value)
    try:
        x = float(value)
    except OverflowError:  # an integer beyond float range (10**400) is out of range, not a crash
        raise OutOfRangeError(path, "value is out of range", allowed, None) from None
    if not math.isfinite(x):
        raise NonFiniteValueError(path, f"value {value!r} is not finite", allowed, value)
    if integer and not x.is_integer():
        raise InvalidTypeError(path, f"expected an integer, got {value!r}", allowed, value)
    if not lo <= x <= hi:
        raise OutOfRangeError(path, f"value {value!r} is out of range", allowed, value)
    return x


def validate_metric(spec: MetricSpec, value: Any, path: str | None = None) -> float:
    """Check one metric value against its spec; return it as float."""
    return _check_number(path or f"metrics.{spec.name}", value, spec.min, spec.max, spec.allowed)


def validate_context_value(spec: ContextFieldSpec, value: Any, path: str) -> Any:
    """Check one context field value against its spec; return the normalized value."""
    if spec.kind == "categorical":
        if not isinstance(value, str):
            raise InvalidTypeError(path, f"expected a string, got {type(value).__name__}", spec.allowed, value)
        v = value.strip().lower()
        if v not in spec.categories:
            raise UnknownCategoryError(path, f"unknown category {value!r}", spec.allowed, value)
        return v
    lo, hi, integer = spec.bounds
    x = _check_number(path, value, lo, hi, spec.allowed, integer)
    return int(x) if integer else x


def _validate_snapshot_into(snap: "ContextSnapshot", spec: RecordSpec, path: str) -> None:
    for f in spec.context_fields:
        v = getattr(snap, f.name)
        if v is not None:
            object.__setattr__(snap, f.name, validate_context_value(f, v, f"{path}.{f.name}"))


@dataclass(frozen=True)
class ContextSnapshot:
    """The taster's situation at one moment. Every field is optional (``None`` = not recorded).

    Field names, ranges and categories come from the record spec's ``context.fields``.
    """

    hour: int | None = None
    weekday: str | None = None
    weather_temp: float | None = None
    humidity: float | None = None
    mood: float | None = None
    stress: float | None = None
    energy: float | None = None
    hunger: float | None = None
    social: str | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        _validate_snapshot_into(self, default_spec(), "context")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], index: int = 0, spec: RecordSpec | None = None) -> "ContextSnapshot":
        """Build and validate a snapshot from a JSON-like mapping (errors name ``context[index].field``)."""
        return _snapshot(_snapshot_values(data, index, spec or default_spec()))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


_SNAPSHOT_FIELDS = frozenset(f.name for f in fields(ContextSnapshot))


def _snapshot_values(data: Any, index: int, spec: RecordSpec) -> dict[str, Any]:
    """The recorded fields of one snapshot given as a JSON-like mapping, validated and normalized (errors name
    ``context[index].field``)."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidTypeError(f"context[{index}]", f"expected an object, got {type(data).__name__}",
                               "an object with fields " + ", ".join(f.name for f in spec.context_fields), data)
    checks = spec.context_checks
    values = {}
    for key, value in data.items():
        check = checks.get(key)
        if check is None:
            raise UnknownFieldError(f"context[{index}].{key}", "unknown context field",
                                    "one of " + ", ".join(spec.context_fields_by_name), key)
        t = type(value)
        if value is None:
            continue  # not recorded: the field's default
        if t is str and value in check[0]:
            values[key] = value  # a listed category is already stripped and lower-case
        elif t is str and (v := value.strip().lower()) in check[0]:
            values[key] = v  # validate_context_value's normalization, without building the error path
        elif (t is float or t is int) and not check[0] and check[1] <= value <= check[2] \
                and (t is int or not check[3] or value.is_integer()):
            values[key] = int(value) if check[3] else float(value)
        else:  # anything else: the full check (it raises, or normalizes a category, or takes another number)
            values[key] = validate_context_value(spec.context_fields_by_name[key], value, f"context[{index}].{key}")
    return values


def _snapshot(values: Mapping[str, Any]) -> ContextSnapshot:
    """A snapshot of validated values (:func:`_snapshot_values`) without validating them again."""
    if not _SNAPSHOT_FIELDS.issuperset(values):
        return ContextSnapshot(**values)  # a spec with fields this class lacks: let the constructor say so
    snap = ContextSnapshot.__new__(ContextSnapshot)
    # the recorded values only: a field not in the instance reads the class's default, None (so the features walk
    # only what was recorded)
    snap.__dict__.update(values)
    return snap


def _check_unicode(notes: str, spec: RecordSpec) -> None:
    """Notes are Unicode text: a lone surrogate (an undecodable byte on a command line, a ``\\ud800`` JSON escape)
    cannot be stored, logged or sent anywhere as UTF-8, so it is refused, not embedded."""
    try:
        notes.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidTypeError("notes", f"not Unicode text: a lone surrogate U+{ord(notes[e.start]):04X} at "
                               f"character {e.start}", spec.notes_allowed, None) from None


class RecordParts(NamedTuple):
    """One record as validation leaves it (see :class:`TastingRecord`), before it is made a record: what the
    features read (:func:`record_parts`)."""

    notes: str  # truncated to the spec's notes.max_chars
    metrics: Mapping[str, float]  # the measured metrics, as floats
    context: list[Mapping[str, Any]]  # the kept snapshots' fields (None or absent: not recorded), oldest first
    notes_truncated_from: int | None
    context_dropped: int

    @property
    def warnings(self) -> tuple[str, ...]:
        """Human-readable notes on what validation changed (truncation, dropped snapshots)."""
        return _warnings(self.notes, self.notes_truncated_from, len(self.context), self.context_dropped)


def _warnings(notes: str, truncated_from: int | None, kept: int, dropped: int) -> tuple[str, ...]:
    if truncated_from is None and not dropped:
        return ()
    out = []
    if truncated_from is not None:
        out.append(f"notes: truncated from {truncated_from} to {len(notes)} characters")
    if dropped:
        out.append(f"context: kept the newest {kept} snapshots, dropped {dropped}")
    return tuple(out)


@dataclass(frozen=True)
class TastingRecord:
    """One tasting: notes (EN, KO or mixed), metrics by spec name, and recent context (newest last).

    Construction validates everything against the record spec. Notes longer than the spec's
    ``notes.max_chars`` are truncated and :attr:`notes_truncated_from` records the original length;
    more than ``context.max_steps`` snapshots keep the newest ones and :attr:`context_dropped`
    counts the rest.
    """

    notes: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    context: tuple[ContextSnapshot, ...] = ()
    notes_truncated_from: int | None = field(default=None, compare=False)
    context_dropped: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        parts = _validated(self.notes, self.metrics, self.context, self.notes_truncated_from, self.context_dropped)
        for name, value in _record_fields(parts).items():
            object.__setattr__(self, name, value)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Human-readable notes on what validation changed (truncation, dropped snapshots)."""
        return _warnings(self.notes, self.notes_truncated_from, len(self.context), self.context_dropped)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TastingRecord":
        """Build a record from a JSON-like mapping with keys ``notes``, ``metrics``, ``context``."""
        return _record(_mapping_parts(data))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping that :meth:`from_dict` reads back to an equal record."""
        return {"notes": self.notes, "metrics": dict(self.metrics), "context": [c.to_dict() for c in self.context]}


def _record_fields(parts: RecordParts) -> dict[str, Any]:
    """A :class:`TastingRecord`'s attributes from its validated parts: metrics in spec order, snapshots as
    :class:`ContextSnapshot`."""
    names = default_spec().metric_names
    metrics = parts.metrics
    return {"notes": parts.notes, "metrics": MappingProxyType({k: metrics[k] for k in names if k in metrics}),
            "context": tuple(_snapshot(v) for v in parts.context),
            "notes_truncated_from": parts.notes_truncated_from, "context_dropped": parts.context_dropped}


def _record(parts: RecordParts) -> TastingRecord:
    rec = TastingRecord.__new__(TastingRecord)  # what the frozen dataclass's __init__ and __post_init__ would set
    rec.__dict__.update(_record_fields(parts))
    return rec


def _parts_of(rec: TastingRecord) -> RecordParts:
    """The parts of a record validated at construction."""
    return RecordParts(rec.notes, rec.metrics, [vars(s) for s in rec.context], rec.notes_truncated_from,
                       rec.context_dropped)


def _mapping_parts(data: Any) -> RecordParts:
    """A record given as a JSON-like mapping with keys ``notes``, ``metrics``, ``context``, validated."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidTypeError("record", f"expected an object, got {type(data).__name__}",
                               "an object with keys notes, metrics, context", data)
    for key in data:
        if key not in ("notes", "metrics", "context"):
            raise UnknownFieldError(key, "unknown record field", "notes, metrics, context", key)
    # only a missing key or null means "not given"; a falsy value of the wrong type ([], false, 0) is refused
    return _validated(data.get("notes"), data.get("metrics"), data.get("context"), None, 0)


def _validated(notes: Any, metrics: Any, context: Any, truncated_from: int | None, dropped: int) -> RecordParts:
    """A record's fields, validated against the record spec and normalized (see :class:`TastingRecord`)."""
    spec = default_spec()
    # notes
    if notes is None:
        notes = ""
    if type(notes) is not str and not isinstance(notes, str):
        raise InvalidTypeError("notes", f"expected a string, got {type(notes).__name__}", spec.notes_allowed, notes)
    if len(notes) > spec.notes_reject_chars:
        raise OutOfRangeError("notes", f"text of {len(notes)} characters is too long", spec.notes_allowed,
                              f"<{len(notes)} characters>")
    if not notes.isascii():
        _check_unicode(notes, spec)
    if len(notes) > spec.notes_max_chars:
        truncated_from, notes = len(notes), notes[: spec.notes_max_chars]
    metrics = _validated_metrics(metrics, spec)
    context, dropped = _validated_context(context, spec, dropped)
    return RecordParts(notes, metrics, context, truncated_from, dropped)


def _validated_metrics(metrics: Any, spec: RecordSpec) -> dict[str, float]:
    if metrics is None:
        return {}
    if type(metrics) is not dict and not isinstance(metrics, Mapping):
        raise InvalidTypeError("metrics", f"expected an object, got {type(metrics).__name__}",
                               "an object keyed by metric name", metrics)
    clean: dict[str, float] = {}
    names, bounds = spec.metric_names, spec.metric_bounds
    for key, value in metrics.items():
        b = bounds.get(key)
        if b is None:
            raise UnknownFieldError(f"metrics.{key}", "unknown metric", "one of " + ", ".join(names), key)
        t = type(value)
        if (t is float or t is int) and b[0] <= value <= b[1]:
            clean[key] = float(value)  # the common case; anything else gets the full check
        elif value is not None:  # None: explicitly "not measured"
            clean[key] = validate_metric(spec.metric(key), value)
    return clean


def _validated_context(ctx: Any, spec: RecordSpec, dropped: int) -> tuple[list[Mapping[str, Any]], int]:
    """The kept snapshots' fields (a :class:`ContextSnapshot` is validated already) and how many were dropped."""
    if ctx is None:
        return [], dropped
    if type(ctx) is not list and (isinstance(ctx, (str, bytes, Mapping)) or not isinstance(ctx, Iterable)):
        raise InvalidTypeError("context", f"expected a list of snapshots, got {type(ctx).__name__}",
                               f"a list of at most {spec.context_max_steps} snapshots, newest last", ctx)
    snaps = [vars(s) if type(s) is not dict and isinstance(s, ContextSnapshot) else _snapshot_values(s, i, spec)
             for i, s in enumerate(ctx)]
    n = max(0, len(snaps) - spec.context_max_steps)
    return (snaps[n:] if n else snaps), dropped + n


def record_parts(obj: TastingRecord | Mapping[str, Any] | str | bytes) -> RecordParts:
    """What :func:`as_record` validates, as :class:`RecordParts` (without building the record).

    Raises:
        RecordValidationError: a subclass naming the field, on bad input.
    """
    if type(obj) is dict:
        return _mapping_parts(obj)
    if isinstance(obj, TastingRecord):
        return _parts_of(obj)
    if isinstance(obj, (str, bytes)):
        def refuse(msg: str) -> InvalidTypeError:
            return InvalidTypeError("record", f"{msg}; a string is read as a record's JSON text: for tasting notes "
                                    "alone pass {'notes': text}", "a TastingRecord, a dict, or JSON text of an "
                                    "object with keys notes, metrics, context", None)

        obj = parse_json(obj, refuse, "text", max_bytes=MAX_RECORD_JSON_BYTES, max_depth=MAX_RECORD_JSON_DEPTH)
    elif isinstance(obj, (list, tuple)):
        raise InvalidTypeError("record", f"expected one record (an object), got a {type(obj).__name__} of "
                               f"{len(obj)} items", "one object with keys notes, metrics, context; for several "
                               "records use Embedder.embed_batch(records)", None)
    return _mapping_parts(obj)


def as_record(obj: TastingRecord | Mapping[str, Any] | str | bytes) -> TastingRecord:
    """Accept a :class:`TastingRecord`, a plain mapping following the record spec, or that mapping as JSON text.

    Raises:
        RecordValidationError: a subclass naming the field, on bad input.
    """
    if type(obj) is not dict and isinstance(obj, TastingRecord):
        return obj
    return _record(record_parts(obj))


MAX_RECORD_JSON_BYTES = 1024 * 1024  # notes are refused past spec.notes_reject_chars long before this
MAX_RECORD_JSON_DEPTH = 8  # record -> context -> snapshot -> value is 3 levels
