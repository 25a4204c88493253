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
from array import array
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from .lexicon import SensoryLexicon, normalize_text, text_chunks
from .records import ContextSnapshot, TastingRecord, record_parts
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
    _snapshot_entries(vars(snap), spec.context_plan_by_name, 0, cols, vals)
    out[cols] = vals
    return out


def _snapshot_entries(values: Mapping[str, Any], plan: Mapping[str, tuple[str, int, Any, Any]], base: int,
                      cols: list[int], vals: list[float]) -> None:
    """Append the non-zero columns of one encoded snapshot (``values``: its validated fields, None = not recorded)
    to ``cols`` (offset by ``base``) and their values, as Python floats, to ``vals`` (float32 at the end, in one
    assignment: per-element numpy writes are slow)."""
    get = plan.get
    for name, v in values.items():
        if v is None or (p := get(name)) is None:
            continue
        kind, col, a, b = p
        col += base
        if kind == "cyclic":  # a = period
            angle = 2.0 * math.pi * v / a
            cols += (col, col + 1, col + 2)
            vals += (math.sin(angle), math.cos(angle), 1.0)
        elif kind == "categorical":  # a = {category: column}
            cols.append(col + a[v])
            vals.append(1.0)
        else:  # a = midpoint, b = half range
            cols += (col, col + 1)
            vals += ((v - a) / b, 1.0)


class Assembled(NamedTuple):
    """What validation changed in one record, its normalized notes and its float inputs in one buffer."""

    warnings: tuple[str, ...]  # RecordParts.warnings
    notes: str  # normalized once (RecordFeatures.notes)
    chunks: list[str]  # ``notes`` normalized again (as the lexicon and the tokenizer normalize what they are
    # given), as lexicon.text_chunks
    buffer: np.ndarray  # float32[1, N], laid out as FeatureExtractor.layout says


class Entries(NamedTuple):
    """One record's float inputs before they are written: the buffer columns that are not zero (metrics and
    context, with the Python float values), the context padding and the lexicon's additions (see
    :meth:`SensoryLexicon.sums`)."""

    warnings: tuple[str, ...]  # RecordParts.warnings
    notes: str
    chunks: list[str]
    cols: list[int]
    vals: list[float]
    padding: int
    nodes: array  # int64
    adds: array  # float64


class FeatureExtractor:
    """Turns records (or spec-following dicts) into model inputs. Stateless and thread-safe."""

    def __init__(self, lexicon: SensoryLexicon | None = None, spec: RecordSpec | None = None) -> None:
        self.spec = spec or default_spec()
        self.lexicon = lexicon or SensoryLexicon.default()
        sizes = {"lexicon": self.lexicon.dim, "metrics": self.spec.num_metrics, "metrics_mask": self.spec.num_metrics,
                 "context": self.spec.context_max_steps * self.spec.context_width,
                 "context_mask": self.spec.context_max_steps}
        ends = np.cumsum(list(sizes.values())).tolist()
        # where each input lives in an assembled record's buffer: name -> (start, end)
        self.layout = {k: (e - n, e) for (k, n), e in zip(sizes.items(), ends)}
        # [p]: an empty float32[1, N] buffer with the context mask of p padding steps (a record's starts as a copy)
        c0, end = self.layout["context_mask"]
        pads = np.arange(self.spec.context_max_steps + 1)[:, None, None]
        self._empty = (np.arange(end) >= c0 + pads).astype(np.float32)

    def __call__(self, record: TastingRecord | Mapping[str, Any]) -> RecordFeatures:
        a = self.assemble(record)
        v = {k: a.buffer[0, s:e] for k, (s, e) in self.layout.items()}
        return RecordFeatures(notes=a.notes, lexicon=v["lexicon"], metrics=v["metrics"],
                              metrics_mask=v["metrics_mask"],
                              context=v["context"].reshape(self.spec.context_max_steps, self.spec.context_width),
                              context_mask=v["context_mask"], warnings=a.warnings)

    def entries(self, record: TastingRecord | Mapping[str, Any]) -> Entries:
        """Validate a record and work out its float inputs (the Python half of :meth:`assemble`).

        Raises:
            RecordValidationError: a subclass naming the field, on bad input.
        """
        rec = record_parts(record)
        spec, layout = self.spec, self.layout
        notes = normalize_text(rec.notes)
        text = notes if notes.isascii() else normalize_text(notes)  # what the lexicon and the tokenizer read
        chunks = text_chunks(text)
        nodes, adds = self.lexicon.additions(chunks)
        cols: list[int] = []
        vals: list[float] = []
        m0, m = layout["metrics"][0], spec.num_metrics
        position = spec.metric_positions
        for name, v in rec.metrics.items():
            i = position.get(name)
            if i is not None:
                cols += (m0 + i, m0 + m + i)
                vals += (v, 1.0)
        steps, width = spec.context_max_steps, spec.context_width
        padding = steps - len(rec.context)  # left padding: the newest snapshot is always in the last slot
        base, plan = layout["context"][0] + padding * width, spec.context_plan_by_name
        for values in rec.context:
            _snapshot_entries(values, plan, base, cols, vals)
            base += width
        return Entries(rec.warnings, notes, chunks, cols, vals, padding, nodes, adds)

    def assemble(self, record: TastingRecord | Mapping[str, Any]) -> Assembled:
        """Validate a record and write all its float inputs into one float32[1, N] buffer (see :attr:`layout`)."""
        e = self.entries(record)
        buf = self._empty[e.padding].copy()
        if e.cols:
            buf[0, e.cols] = e.vals
        if e.nodes:
            l0, l1 = self.layout["lexicon"]
            buf[0, l0:l1] = self.lexicon.sums(e.nodes, e.adds)  # float64 -> float32 here
        return Assembled(e.warnings, e.notes, e.chunks, buf)

    def buffer_many(self, entries: Sequence[Entries]) -> np.ndarray:
        """float32[n, N]: row i is :meth:`assemble`'s buffer of ``entries[i]``, the same values written by a few
        numpy calls for all the rows (the lexicon sums add each row's additions in the same order).

        Raises:
            Nothing: the entries are validated already (:meth:`entries`).
        """
        n, end, (l0, l1), dim = len(entries), self._empty.shape[2], self.layout["lexicon"], self.lexicon.dim
        buf = self._empty[np.fromiter((e.padding for e in entries), np.int64, n), 0]  # a copy of each row's empty one
        cols: list[int] = []
        vals: list[float] = []
        nodes, adds = array("q"), array("d")
        for e in entries:
            cols += e.cols
            vals += e.vals
            nodes += e.nodes
            adds += e.adds
        rows = np.arange(n)
        if cols:  # each row's columns, offset to its row in the flat buffer
            flat = np.repeat(rows * end, [len(e.cols) for e in entries]) + cols
            buf.reshape(-1)[flat] = vals
        if nodes:
            clip = self.lexicon.clip
            at = np.repeat(rows * dim, [len(e.nodes) for e in entries]) + nodes
            acc = np.bincount(at, adds, minlength=n * dim).reshape(n, dim)  # adds sequentially, per row
            buf[:, l0:l1] = np.minimum(np.maximum(acc, -clip, out=acc), clip, out=acc)
        return buf

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
