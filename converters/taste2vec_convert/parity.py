"""Parity gate: every converted variant against the PyTorch student and the teacher, on held-out records.

For each variant: cosine to the PyTorch student (mean, min), max abs difference, same-coffee recall@10 on held-out
synthetic coffees and the share of the teacher's recall it keeps, cross-lingual agreement, real-review recall,
ops, size, and single-thread latency (p50 / p90 / p99, measured in this run). A variant that misses a threshold is
not exported; the pick is the smallest passing variant (ties: the faster one).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from taste2vec.runtime import TasteModel
from taste2vec_reference.evaluate import TEST_SPLITS, cross_lingual, embed, recall_at_k
from taste2vec_reference.train import Pool

from .student import INPUT_NAMES


@dataclass(frozen=True)
class Thresholds:
    """What a variant must keep: cosine to the PyTorch student, synthetic recall@10 relative to the teacher
    (``recall_retained``; ``export --min-retention`` lowers it for small private data sets, and the export report
    records it), and real-review recall@10 over TF-IDF's."""

    cos_mean: float = 0.99
    cos_min: float = 0.95
    recall_retained: float = 0.97
    # real-data gate: half-vs-half R@10 on each test split's reviews (dev, recent) at least TF-IDF's (same run)
    # + this margin
    real_over_tfidf: float = 0.10


@dataclass
class ParitySet:
    """Held-out pools (with token ids): A/B tastings of test coffees, EN/KO notes, real review halves of both
    test splits (``real_a``/``real_b``: dev; ``recent_a``/``recent_b``: recent)."""

    pools: dict[str, Pool]

    def __len__(self) -> int:
        return sum(len(p) for p in self.pools.values())


def record_inputs(pool: Pool, i: int, bucket_for: Callable[[int], int]) -> dict[str, np.ndarray]:
    """Row ``i`` of a pool as one record's model inputs, token ids cut to their bucket."""
    t = pool.tensors
    ids = t["token_ids"][i].numpy()
    length = bucket_for(int((ids > 0).sum()))
    out = {k: t[k][i:i + 1].numpy() for k in INPUT_NAMES if k != "token_ids"}
    out["token_ids"] = np.ascontiguousarray(ids[None, :length], dtype=np.int32)
    return out


def embed_with(run: Callable[[Mapping[str, np.ndarray]], np.ndarray], pool: Pool,
               bucket_for: Callable[[int], int]) -> np.ndarray:
    """Embed every row of ``pool`` one record at a time (as a phone would)."""
    return np.concatenate([run(record_inputs(pool, i, bucket_for)) for i in range(len(pool))]) if len(pool) else \
        np.zeros((0, 128), np.float32)


def context_free_parity(model_bytes: bytes, ps: "ParitySet") -> tuple[int, int]:
    """The parity records without context snapshots, and how many of them get from their bucket's
    ``embed_<bucket>_c0`` signature a vector that is not bit for bit the full graph's (the runtime uses that
    signature for such records: it must not change a vector)."""
    bare, full = TasteModel(model_bytes), TasteModel(model_bytes, context_free=False)
    n = differ = 0
    for pool in ps.pools.values():
        for i in range(len(pool)):
            x = record_inputs(pool, i, full.bucket_for)
            if not np.any(x["context_mask"]):
                n += 1
                differ += not np.array_equal(bare.run(x), full.run(x))
    return n, differ


@dataclass
class VariantResult:
    name: str
    size_bytes: int
    cos_mean: float
    cos_min: float
    max_abs_diff: float
    cos_teacher_mean: float
    recall10: float
    recall10_retained: float
    cross_lingual: float
    real_recall10: float | None
    latency_ms: dict[str, dict[str, float]]
    ops: dict[str, int]
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    real: dict[str, Any] = field(default_factory=dict)  # real_metrics of this variant (R@1/R@10, probes)
    real_recent_recall10: float | None = None  # real R@10 on the recent test split

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reference_embeddings(model, ps: ParitySet) -> dict[str, np.ndarray]:
    """Embeddings of a PyTorch model (teacher or student) on every parity pool."""
    return {k: embed(model, p) for k, p in ps.pools.items()}


def summarize(name: str, emb: dict[str, np.ndarray], student: dict[str, np.ndarray], teacher: dict[str, np.ndarray],
              size: int, ops: dict[str, int], latency: dict[str, dict[str, float]], th: Thresholds,
              real_data: dict[str, Any] | None = None, tfidf_recall10: Mapping[str, float] | None = None
              ) -> VariantResult:
    """Compare one variant's embeddings with the student's and the teacher's and apply the thresholds.

    ``real_data``: the variant's real-data metrics (``evaluate.real_metrics``); ``tfidf_recall10``: TF-IDF's real
    R@10 per test split (``test``, ``recent``) measured in the same run (the real-data gate needs both)."""
    keys = list(emb)
    v = np.concatenate([emb[k] for k in keys])
    s = np.concatenate([student[k] for k in keys])
    t = np.concatenate([teacher[k] for k in keys])
    cos = (v * s).sum(1)
    r10 = recall_at_k(emb["syn_a"], emb["syn_b"])["recall@10"]
    t10 = recall_at_k(teacher["syn_a"], teacher["syn_b"])["recall@10"]
    real = {split: recall_at_k(emb[f"{p}_a"], emb[f"{p}_b"])["recall@10"]
            for split, (p, _) in TEST_SPLITS.items() if f"{p}_a" in emb}
    res = VariantResult(name, size, float(cos.mean()), float(cos.min()), float(np.abs(v - s).max()),
                        float((v * t).sum(1).mean()), r10, r10 / t10 if t10 else 0.0,
                        cross_lingual(emb["en"], emb["ko"])["agreement"], real.get("test"), latency, ops,
                        real=real_data or {}, real_recent_recall10=real.get("recent"))
    if res.cos_mean < th.cos_mean:
        res.failures.append(f"cosine mean {res.cos_mean:.4f} < {th.cos_mean}")
    if res.cos_min < th.cos_min:
        res.failures.append(f"cosine min {res.cos_min:.4f} < {th.cos_min}")
    if res.recall10_retained < th.recall_retained:
        res.failures.append(f"recall@10 retained {res.recall10_retained:.3f} < {th.recall_retained}")
    for split, r in real.items():
        tfidf = (tfidf_recall10 or {}).get(split)
        if tfidf is not None and r < tfidf + th.real_over_tfidf:
            res.failures.append(f"real R@10 ({split} split) {r:.3f} < TF-IDF {tfidf:.3f} + {th.real_over_tfidf}")
    res.passed = not res.failures
    return res


# why a gate check fails and what to do, by the start of the failure text ``summarize`` writes
FAILURE_HINTS = {
    "cosine": "the quantized graph drifts from the PyTorch student: keep a wider variant (--variants float16 "
              "dynamic_int8) or give the calibration more records",
    "recall@10 retained": "the student keeps too little of the teacher's same-coffee retrieval. Usually it is "
                          "undertrained for its data: distill longer (--steps), train the teacher on more records; "
                          "on a small private data set, where the teacher's own recall is high and noisy, accept a "
                          "lower bar on purpose with --min-retention (e.g. 0.90; recorded in the export report)",
    "real R@10": "on real reviews the student does not beat TF-IDF by the margin: export with the real data "
                 "(without --no-real), distill longer, or retrain the teacher with real reviews",
}


def explain_failures(results: list[VariantResult]) -> str:
    """No variant passed: each variant's failed checks, then, once per kind of failure, why and what to do."""
    lines = ["no variant passed the parity gate:"]
    lines += [f"  {r.name}: {', '.join(r.failures)}" for r in results]
    kinds = [k for k in FAILURE_HINTS if any(f.startswith(k) for r in results for f in r.failures)]
    lines += [f"{k}: {FAILURE_HINTS[k]}." for k in kinds]
    return "\n".join(lines)


def latency(model: TasteModel, ps: ParitySet, runs: int = 200, warmup: int = 20) -> dict[str, dict[str, float]]:
    """Single-thread latency per bucket on a real held-out record of that bucket (ms percentiles)."""
    pool = ps.pools["syn_a"]
    out: dict[str, dict[str, float]] = {}
    for b in model.buckets:
        inputs = record_inputs(pool, 0, lambda n, b=b: b)
        for _ in range(warmup):
            model.run(inputs)
        ts = np.empty(runs)
        for i in range(runs):
            t0 = time.perf_counter()
            model.run(inputs)
            ts[i] = time.perf_counter() - t0
        out[f"embed_{b}"] = {f"p{q}": float(np.percentile(ts, q) * 1e3) for q in (50, 90, 99)}
    return out


def pick(results: list[VariantResult]) -> VariantResult | None:
    """The smallest passing variant; ties (within 2%) go to the lower p50 latency of the middle bucket."""
    ok = [r for r in results if r.passed]
    if not ok:
        return None
    smallest = min(r.size_bytes for r in ok)
    near = [r for r in ok if r.size_bytes <= smallest * 1.02]

    def p50(r: VariantResult) -> float:
        vals = [v["p50"] for v in r.latency_ms.values()]
        return float(np.median(vals)) if vals else 0.0

    return min(near, key=lambda r: (p50(r), r.size_bytes))
