"""Record -> model input tensors (pure numpy). The layout is derived from the record spec.

Per record:

- ``notes``: the (truncated) notes, NFKC-normalized and lower-cased (the text encoder tokenizes it).
- ``lexicon``: float32[L], the sensory lexicon's attribute-weight vector of the notes.
- ``metrics``: float32[20], raw values in spec order (missing = 0) and ``metrics_mask`` float32[20]
  (1 = measured). Scaling and log transforms happen inside the model, with statistics fitted on
  training data and stored with it.
- ``context``: float32[8, C] encoded snapshots, left-padded so the newest is always in the last slot,
  and ``context_mask`` float32[8] (1 = a real snapshot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Any

import numpy as np

from .lexicon import SensoryLexicon, normalize_text
from .records import ContextSnapshot, TastingRecord, as_record
from .spec import RecordSpec, default_spec


@dataclass(frozen=True)
class RecordFeatures:
    """Model-ready arrays of one record (see module docs for the layout)."""

    notes: str
    lexicon: np.ndarray
    metrics: np.ndarray
    metrics_mask: np.ndarray
    context: np.ndarray
    context_mask: np.ndarray
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureBatch:
    """Stacked features of several records; arrays have a leading batch dimension."""

    notes: list[str]
    lexicon: np.ndarray
    metrics: np.ndarray
    metrics_mask: np.ndarray
    context: np.ndarray
    context_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.notes)

    def select(self, idx: np.ndarray | list[int]) -> "FeatureBatch":
        idx = np.asarray(idx)
        return FeatureBatch([self.notes[i] for i in idx], self.lexicon[idx], self.metrics[idx],
                            self.metrics_mask[idx], self.context[idx], self.context_mask[idx])

    @staticmethod
    def concat(parts: list["FeatureBatch"]) -> "FeatureBatch":
        return FeatureBatch([n for p in parts for n in p.notes],
                            *(np.concatenate([getattr(p, k) for p in parts]) for k in
                              ("lexicon", "metrics", "metrics_mask", "context", "context_mask")))


def encode_snapshot(snap: ContextSnapshot, spec: RecordSpec) -> np.ndarray:
    """Encode one validated snapshot into the spec's C columns."""
    out = np.zeros(spec.context_width, dtype=np.float32)
    cols: list[int] = []
    vals: list[float] = []
    _snapshot_entries(snap, spec.context_plan_by_name, 0, cols, vals)
    out[cols] = vals
    return out


def _snapshot_entries(snap: ContextSnapshot, plan: Mapping[str, tuple[str, int, Any, Any]], base: int,
                      cols: list[int], vals: list[float]) -> None:
    """Append the non-zero columns of one encoded snapshot to ``cols`` (offset by ``base``) and their values, as
    Python floats, to ``vals`` (float32 at the end, in one assignment: per-element numpy writes are slow)."""
    get = plan.get
    for name, v in vars(snap).items():
        if v is None or (p := get(name)) is None:
            continue
        kind, col, a, b = p
        col += base
        if kind == "cyclic":  # a = period
            angle = 2.0 * math.pi * float(v) / a
            cols += (col, col + 1, col + 2)
            vals += (math.sin(angle), math.cos(angle), 1.0)
        elif kind == "categorical":  # a = {category: column}
            cols.append(col + a[v])
            vals.append(1.0)
        else:  # a = midpoint, b = half range
            cols += (col, col + 1)
            vals += ((float(v) - a) / b, 1.0)


class FeatureExtractor:
    """Turns records (or spec-following dicts) into model inputs. Stateless and thread-safe."""

    def __init__(self, lexicon: SensoryLexicon | None = None, spec: RecordSpec | None = None) -> None:
        self.spec = spec or default_spec()
        self.lexicon = lexicon or SensoryLexicon.default()

    def __call__(self, record: TastingRecord | Mapping[str, Any]) -> RecordFeatures:
        rec = as_record(record)
        spec = self.spec
        m, steps, width = spec.num_metrics, spec.context_max_steps, spec.context_width
        # one buffer, four views: metrics | metrics_mask | context (steps x width) | context_mask
        c0 = 2 * m + steps * width
        buf = np.zeros(c0 + steps, dtype=np.float32)
        cols: list[int] = []
        vals: list[float] = []
        position = spec.metric_positions
        for name, v in rec.metrics.items():
            i = position.get(name)
            if i is not None:
                cols += (i, m + i)
                vals += (v, 1.0)
        padding = steps - len(rec.context)  # left padding: the newest snapshot is always in the last slot
        base, plan = 2 * m + padding * width, spec.context_plan_by_name
        for snap in rec.context:
            _snapshot_entries(snap, plan, base, cols, vals)
            base += width
        buf[c0 + padding:] = 1.0
        if cols:
            buf[cols] = vals
        notes = normalize_text(rec.notes)
        return RecordFeatures(notes=notes, lexicon=self.lexicon.vector(notes), metrics=buf[:m],
                              metrics_mask=buf[m:2 * m], context=buf[2 * m:c0].reshape(steps, width),
                              context_mask=buf[c0:], warnings=rec.warnings)

    def batch(self, records: Iterable[TastingRecord | Mapping[str, Any]]) -> FeatureBatch:
        """Extract and stack features of many records."""
        feats = [self(r) for r in records]
        spec = self.spec
        if not feats:
            return FeatureBatch([], np.zeros((0, self.lexicon.dim), np.float32),
                                np.zeros((0, spec.num_metrics), np.float32), np.zeros((0, spec.num_metrics), np.float32),
                                np.zeros((0, spec.context_max_steps, spec.context_width), np.float32),
                                np.zeros((0, spec.context_max_steps), np.float32))
        return FeatureBatch([f.notes for f in feats], np.stack([f.lexicon for f in feats]),
                            np.stack([f.metrics for f in feats]), np.stack([f.metrics_mask for f in feats]),
                            np.stack([f.context for f in feats]), np.stack([f.context_mask for f in feats]))
