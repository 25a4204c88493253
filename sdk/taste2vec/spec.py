"""The versioned record spec (``spec/record_spec.json``) as typed Python objects.

The JSON file is the single source of truth for field names, units, ranges, categories and the
context encoding; the dataclasses in :mod:`taste2vec.records` and the feature layout in
:mod:`taste2vec.features` are derived from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import SpecError

SUPPORTED_MAJOR = 1
_KINDS = {"cyclic", "categorical", "numeric"}
_TRANSFORMS = {"none", "log1p"}


@dataclass(frozen=True)
class MetricSpec:
    """One numeric metric: its name, unit, valid closed range and the transform the model applies."""

    name: str
    unit: str
    min: float
    max: float
    transform: str
    group: str
    description: str

    @cached_property
    def allowed(self) -> str:
        return _range_text("a finite number", self.min, self.max, self.unit)


@dataclass(frozen=True)
class ContextFieldSpec:
    """One field of a context snapshot."""

    name: str
    kind: str  # "cyclic" | "categorical" | "numeric"
    type: str  # "int" | "float" | "str"
    description: str
    min: float | None = None
    max: float | None = None
    period: int | None = None
    unit: str = ""
    categories: tuple[str, ...] = ()

    @cached_property
    def width(self) -> int:
        """Number of feature columns this field occupies in an encoded snapshot."""
        if self.kind == "cyclic":
            return 3
        if self.kind == "categorical":
            return len(self.categories)
        return 2

    @cached_property
    def bounds(self) -> tuple[float, float, bool]:
        """A numeric field's closed range as floats, and whether it takes integers only."""
        return float(self.min), float(self.max), self.type == "int"

    @cached_property
    def allowed(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) for c in self.categories)
        return _range_text("an integer" if self.type == "int" else "a finite number", self.min, self.max, self.unit)


@dataclass(frozen=True)
class RecordSpec:
    """The whole record spec."""

    version: str
    notes_max_chars: int
    notes_reject_chars: int
    metrics: tuple[MetricSpec, ...]
    context_fields: tuple[ContextFieldSpec, ...]
    context_max_steps: int
    raw: dict

    @cached_property
    def notes_allowed(self) -> str:
        """What every refusal of notes names as allowed (Kotlin: ``RecordSpec.notesAllowed``)."""
        return f"text of at most {self.notes_reject_chars} characters; the model reads the first {self.notes_max_chars}"

    @cached_property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    @cached_property
    def num_metrics(self) -> int:
        return len(self.metrics)

    @cached_property
    def context_width(self) -> int:
        """Columns of one encoded context snapshot."""
        return sum(f.width for f in self.context_fields)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @cached_property
    def _metric_index(self) -> dict[str, int]:
        return {m.name: i for i, m in enumerate(self.metrics)}

    def metric(self, name: str) -> MetricSpec:
        return self.metrics[self._metric_index[name]]

    @property
    def metric_positions(self) -> dict[str, int]:
        """Metric name -> its column in the metrics vector."""
        return self._metric_index

    def metric_position(self, name: str) -> int:
        """The column of metric ``name`` in the metrics vector (KeyError if unknown)."""
        return self._metric_index[name]

    @cached_property
    def context_fields_by_name(self) -> dict[str, ContextFieldSpec]:
        """The context fields by name (spec order)."""
        return {f.name: f for f in self.context_fields}

    @cached_property
    def context_plan(self) -> tuple[tuple[str, str, int, Any, Any], ...]:
        """Per context field, how :func:`taste2vec.features.encode_snapshot` writes it: (name, kind, first column,
        a, b) with a = the period (cyclic), {category: offset} (categorical) or the midpoint (numeric), and
        b = the half range (numeric)."""
        rows, col = [], 0
        for f in self.context_fields:
            if f.kind == "cyclic":
                rows.append((f.name, f.kind, col, float(f.period), None))
            elif f.kind == "categorical":
                rows.append((f.name, f.kind, col, {c: i for i, c in enumerate(f.categories)}, None))
            else:
                rows.append((f.name, f.kind, col, (float(f.max) + float(f.min)) / 2.0,
                             (float(f.max) - float(f.min)) / 2.0))
            col += f.width
        return tuple(rows)

    @cached_property
    def metric_bounds(self) -> dict[str, tuple[float, float]]:
        """Metric name -> its closed range."""
        return {m.name: (m.min, m.max) for m in self.metrics}

    @cached_property
    def context_checks(self) -> dict[str, tuple[frozenset[str], float, float, bool]]:
        """Context field name -> (its categories, or an empty set for a number; the number's closed range; whether
        it is an integer): what a valid value looks like, for the records' fast path."""
        return {f.name: (frozenset(f.categories), 0.0, 0.0, False) if f.kind == "categorical"
                else (frozenset(), *f.bounds) for f in self.context_fields}

    @cached_property
    def context_plan_by_name(self) -> dict[str, tuple[str, int, Any, Any]]:
        """:attr:`context_plan` keyed by field name: (kind, first column, a, b)."""
        return {name: (kind, col, a, b) for name, kind, col, a, b in self.context_plan}

    def context_columns(self) -> list[str]:
        """Human-readable names of the encoded context columns, in order."""
        cols: list[str] = []
        for f in self.context_fields:
            if f.kind == "cyclic":
                cols += [f"{f.name}.sin", f"{f.name}.cos", f"{f.name}.present"]
            elif f.kind == "categorical":
                cols += [f"{f.name}={c}" for c in f.categories]
            else:
                cols += [f"{f.name}.scaled", f"{f.name}.present"]
        return cols


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else str(x)


def _range_text(kind: str, lo: float | None, hi: float | None, unit: str) -> str:
    """What a refusal names as allowed for a numeric field: "a finite number in [0, 100] degC"; a unit that only
    repeats the range (a "0-10" scale) is left out (Kotlin: ``rangeText``)."""
    a, b = _fmt(lo), _fmt(hi)
    return f"{kind} in [{a}, {b}]" + (f" {unit}" if unit and unit != f"{a}-{b}" else "")


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise SpecError(msg)


def parse_spec(data: dict[str, Any]) -> RecordSpec:
    """Validate a spec document and turn it into a :class:`RecordSpec`."""
    _require(data.get("spec") == "taste2vec.record", "not a taste2vec record spec (key 'spec')")
    version = str(data.get("version", ""))
    parts = version.split(".")
    _require(len(parts) == 3 and all(p.isdigit() for p in parts), f"bad spec version {version!r}")
    _require(int(parts[0]) == SUPPORTED_MAJOR, f"record spec major version {parts[0]} is not supported "
             f"(this SDK reads {SUPPORTED_MAJOR}.x)")
    notes = data["notes"]
    max_chars = int(notes["max_chars"])
    _require(max_chars > 0, "notes.max_chars must be positive")
    # 1.1: notes longer than this are refused (not truncated); absent in 1.0 = no limit
    reject = int(notes.get("reject_over_chars", 0)) or 2**31 - 1
    _require(reject >= max_chars, "notes.reject_over_chars must be >= notes.max_chars")
    metrics = []
    for m in data["metrics"]:
        ms = MetricSpec(name=m["name"], unit=m["unit"], min=float(m["min"]), max=float(m["max"]),
                        transform=m.get("transform", "none"), group=m.get("group", ""),
                        description=m.get("description", ""))
        _require(math.isfinite(ms.min) and math.isfinite(ms.max) and ms.min < ms.max, f"bad range for {ms.name}")
        _require(ms.transform in _TRANSFORMS, f"unknown transform {ms.transform!r} for {ms.name}")
        _require(ms.transform != "log1p" or ms.min >= 0, f"log1p metric {ms.name} needs min >= 0")
        metrics.append(ms)
    names = [m.name for m in metrics]
    _require(len(set(names)) == len(names), "duplicate metric names")
    ctx = data["context"]
    fields = []
    for f in ctx["fields"]:
        kind = f["kind"]
        _require(kind in _KINDS, f"unknown context kind {kind!r}")
        cats = tuple(f.get("categories", ()))
        cf = ContextFieldSpec(name=f["name"], kind=kind, type=f["type"], description=f.get("description", ""),
                              min=f.get("min"), max=f.get("max"), period=f.get("period"), unit=f.get("unit", ""),
                              categories=cats)
        if kind == "categorical":
            _require(len(cats) >= 2 and len(set(cats)) == len(cats), f"bad categories for {cf.name}")
        else:
            _require(cf.min is not None and cf.max is not None and cf.min < cf.max, f"bad range for {cf.name}")
        if kind == "cyclic":
            _require(bool(cf.period) and cf.period > 0, f"cyclic field {cf.name} needs a period")
        fields.append(cf)
    steps = int(ctx["max_steps"])
    _require(steps > 0, "context.max_steps must be positive")
    return RecordSpec(version=version, notes_max_chars=max_chars, notes_reject_chars=reject, metrics=tuple(metrics),
                      context_fields=tuple(fields), context_max_steps=steps, raw=data)


def load_spec(path: str | Path | None = None) -> RecordSpec:
    """Load a record spec; without ``path`` the spec shipped with this package."""
    if path is None:
        return default_spec()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SpecError(f"cannot read record spec {path}: {e}") from e
    return parse_spec(data)


@lru_cache(maxsize=1)
def default_spec() -> RecordSpec:
    """The record spec shipped with this package (cached)."""
    text = resources.files("taste2vec").joinpath("spec/record_spec.json").read_text(encoding="utf-8")
    return parse_spec(json.loads(text))


def spec_path() -> Path:
    """Filesystem path of the shipped spec (for tools that copy it into a bundle)."""
    return Path(str(resources.files("taste2vec").joinpath("spec/record_spec.json")))
