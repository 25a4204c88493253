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
    return np.array(_snapshot_columns(snap, spec), dtype=np.float32)


def _snapshot_columns(snap: ContextSnapshot, spec: RecordSpec) -> list[float]:
    """:func:`encode_snapshot` as Python floats (float32 at the end: per-element numpy writes are slow)."""
    out = [0.0] * spec.context_width
    for name, kind, col, a, b in spec.context_plan:
        v = getattr(snap, name)
        if v is None:
            continue
        if kind == "cyclic":  # a = period
            angle = 2.0 * math.pi * float(v) / a
            out[col], out[col + 1], out[col + 2] = math.sin(angle), math.cos(angle), 1.0
        elif kind == "categorical":  # a = {category: column}
            out[col + a[v]] = 1.0
        else:  # a = midpoint, b = half range
            out[col], out[col + 1] = (float(v) - a) / b, 1.0
    return out


class FeatureExtractor:
    """Turns records (or spec-following dicts) into model inputs. Stateless and thread-safe."""

    def __init__(self, lexicon: SensoryLexicon | None = None, spec: RecordSpec | None = None) -> None:
        self.spec = spec or default_spec()
        self.lexicon = lexicon or SensoryLexicon.default()

    def __call__(self, record: TastingRecord | Mapping[str, Any]) -> RecordFeatures:
        rec = as_record(record)
        spec = self.spec
        given = rec.metrics
        metrics = np.array([given.get(name, 0.0) for name in spec.metric_names], dtype=np.float32)
        mask = np.array([name in given for name in spec.metric_names], dtype=np.float32)
        steps, width = spec.context_max_steps, spec.context_width
        padding = steps - len(rec.context)  # left padding: the newest snapshot is always in the last slot
        rows = [0.0] * (padding * width)
        for snap in rec.context:
            rows += _snapshot_columns(snap, spec)
        ctx = np.array(rows, dtype=np.float32).reshape(steps, width)
        cmask = np.array([0.0] * padding + [1.0] * len(rec.context), dtype=np.float32)
        notes = normalize_text(rec.notes)
        return RecordFeatures(notes=notes, lexicon=self.lexicon.vector(notes), metrics=metrics, metrics_mask=mask,
                              context=ctx, context_mask=cmask, warnings=rec.warnings)

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
