"""Monitoring of a rollout from device reports, and automatic rollback when a guard rail is crossed.

Devices send small events (``taste2vec.device-event/1``), never notes or vectors of single records:

- ``{"type": "latency", "model": id, "latency_ms": 3.1, "time": t}`` — one ``embed`` call;
- ``{"type": "error", "model": id, "error": "OutOfRangeError", "time": t}`` — a failed call (bad input counts
  separately from runtime failures: ``"kind": "input"`` or ``"runtime"``);
- ``{"type": "embedding_stats", "model": id, "count": n, "sum": [128 floats], "sumsq": [128 floats]}`` — running
  sums over the device's last ``n`` embeddings, from which the server rebuilds the mean and spread per dimension.

:func:`model_health` turns them into latency percentiles, the runtime error rate and a drift report against a
reference (the same sums computed at release time on the validation records): the largest standardized shift of a
dimension's mean, ``max_d |mu_d - mu_ref_d| / sd_ref_d``, and the cosine between the two mean vectors.
:func:`check_guard_rails` compares them with :class:`GuardRails`; :func:`auto_rollback` acts on a violation: a
treatment loses its traffic in the rollout config, a production model is rolled back in the staged registry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from taste2vec.bundle import DEFAULT_LATENCY_BUDGET
from taste2vec.rollout import RolloutConfig, RolloutVariant

from .stages import StagedRegistry


@dataclass
class EmbeddingStats:
    """Count, sum and sum of squares per dimension: mergeable across devices."""

    count: int
    sum: np.ndarray
    sumsq: np.ndarray

    @classmethod
    def of(cls, vectors: np.ndarray) -> "EmbeddingStats":
        v = np.asarray(vectors, np.float64)
        return cls(len(v), v.sum(0), (v * v).sum(0))

    @classmethod
    def empty(cls, dim: int) -> "EmbeddingStats":
        return cls(0, np.zeros(dim), np.zeros(dim))

    def merge(self, other: "EmbeddingStats") -> "EmbeddingStats":
        return EmbeddingStats(self.count + other.count, self.sum + other.sum, self.sumsq + other.sumsq)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.count, 1)

    @property
    def std(self) -> np.ndarray:
        m = self.mean
        return np.sqrt(np.maximum(self.sumsq / max(self.count, 1) - m * m, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "sum": self.sum.tolist(), "sumsq": self.sumsq.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EmbeddingStats":
        return cls(int(d["count"]), np.asarray(d["sum"], np.float64), np.asarray(d["sumsq"], np.float64))


def drift(reference: EmbeddingStats, current: EmbeddingStats) -> dict[str, float]:
    """Largest standardized mean shift of a dimension, and the cosine of the two mean vectors."""
    sd = np.maximum(reference.std, 1e-6)
    shift = np.abs(current.mean - reference.mean) / sd
    a, b = reference.mean, current.mean
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) if np.any(a) and np.any(b) else float("nan")
    return {"max_mean_shift_sd": float(shift.max()), "mean_cosine": cos, "count": current.count}


@dataclass(frozen=True)
class GuardRails:
    """Limits a model must keep on devices; ``min_events`` before latency / error rails apply."""

    p99_latency_ms: float = DEFAULT_LATENCY_BUDGET["ms"]  # the product's on-device budget
    max_error_rate: float = 0.01
    max_mean_shift_sd: float = 0.5
    min_events: int = 200
    min_embeddings: int = 500


@dataclass(frozen=True)
class Violation:
    model: str
    rail: str
    value: float
    limit: float

    def __str__(self) -> str:
        return f"{self.model}: {self.rail} {self.value:.4g} beyond {self.limit:g}"


@dataclass
class Health:
    """One model's health from device events."""

    model: str
    calls: int = 0
    runtime_errors: int = 0
    input_errors: int = 0
    latency: dict[str, float] = field(default_factory=dict)
    drift: dict[str, float] | None = None

    @property
    def error_rate(self) -> float:
        return self.runtime_errors / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}


def model_health(events: Iterable[Mapping[str, Any]],
                 references: Mapping[str, EmbeddingStats] | None = None) -> dict[str, Health]:
    """Per model: calls, runtime / input errors, latency p50 / p90 / p99, drift against ``references[model]``."""
    lat: dict[str, list[float]] = {}
    out: dict[str, Health] = {}
    stats: dict[str, EmbeddingStats] = {}
    for e in events:
        m = e["model"]
        h = out.setdefault(m, Health(m))
        t = e.get("type")
        if t == "latency":
            x = float(e["latency_ms"])
            if not math.isfinite(x) or x < 0:
                raise ValueError(f"latency_ms {e['latency_ms']!r} (allowed: a finite number >= 0)")
            lat.setdefault(m, []).append(x)
            h.calls += 1
        elif t == "error":
            if e.get("kind", "runtime") == "input":
                h.input_errors += 1
            else:
                h.runtime_errors += 1
                h.calls += 1
        elif t == "embedding_stats":
            s = EmbeddingStats.from_dict(e)
            stats[m] = stats[m].merge(s) if m in stats else s
        else:
            raise ValueError(f"device event type {t!r} (allowed: latency, error, embedding_stats)")
    for m, h in out.items():
        if m in lat:
            p = np.percentile(lat[m], [50, 90, 99])
            h.latency = {"p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2]), "n": len(lat[m])}
        if references and m in references and m in stats:
            h.drift = drift(references[m], stats[m])
    return out


def check_guard_rails(health: Mapping[str, Health], rails: GuardRails = GuardRails()) -> list[Violation]:
    """Every rail a model with enough data crosses."""
    out = []
    for m, h in health.items():
        if h.calls >= rails.min_events:
            if h.latency and h.latency["p99"] > rails.p99_latency_ms:
                out.append(Violation(m, "p99_latency_ms", h.latency["p99"], rails.p99_latency_ms))
            if h.error_rate > rails.max_error_rate:
                out.append(Violation(m, "error_rate", h.error_rate, rails.max_error_rate))
        if h.drift and h.drift["count"] >= rails.min_embeddings and h.drift["max_mean_shift_sd"] > rails.max_mean_shift_sd:
            out.append(Violation(m, "max_mean_shift_sd", h.drift["max_mean_shift_sd"], rails.max_mean_shift_sd))
    return out


def auto_rollback(violations: Iterable[Violation], rollout_path: str | Path,
                  registry: StagedRegistry | None = None) -> list[str]:
    """Act on violations; returns what was done (empty when nothing was violated).

    A violating model that is a non-control variant of the rollout gets 0 % (its share goes to the first variant,
    the control) in a new config revision, written atomically. A violating model that is in production in
    ``registry`` is rolled back there (the previous production version returns) and every rollout variant serving
    it is pointed back at the restored version.
    """
    path = Path(rollout_path)
    config = RolloutConfig.load(path)
    actions: list[str] = []
    bad = {}
    for v in violations:
        bad.setdefault(v.model, []).append(str(v))
    control = config.variants[0]
    for model, reasons in bad.items():
        arms = [v for v in config.variants if v.model == model]
        treated = [v for v in arms if v.name != control.name and v.traffic > 0]
        if treated:
            shares = {v.name: 0.0 for v in treated}
            shares[control.name] = control.traffic + sum(v.traffic for v in treated)
            config = config.with_traffic(shares)
            control = config.variants[0]
            actions.append(f"rollout {config.experiment} r{config.revision}: {', '.join(v.name for v in treated)} "
                           f"({model}) -> 0 % because {'; '.join(reasons)}")
        if registry is not None:
            name, _, version = model.rpartition("-")
            if registry.production(name) == version:
                back = registry.rollback(name, reason="guard rail: " + "; ".join(reasons))
                actions.append(f"registry {name}: production {version} -> archived, {back} restored")
                config = RolloutConfig(config.experiment, tuple(
                    RolloutVariant(v.name, f"{name}-{back}" if v.model == model else v.model, v.traffic)
                    for v in config.variants), config.revision + 1)
    if actions:
        config.save(path)
    return actions
