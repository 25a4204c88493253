"""Evaluation of a reference model -> ``evaluation.json`` + ``evaluation.png`` and a printed table.

- Synthetic retrieval on held-out coffees: two fresh tastings per test coffee, query one, rank the other
  among all test coffees' tastings: recall@1 / @10.
- Ablation: each modality alone, all together, and the untrained (random-init) model, on that task.
- Cross-lingual agreement: for each test coffee an English-only and a Korean-only note (notes only);
  the share of (coffee, other coffee) pairs where EN(c)·KO(c) > EN(c)·KO(c').
- Preference AUC: held-out users, held-out coffees; profile = mean of 4 liked coffees' embeddings; AUC of
  cosine(profile, coffee) separating the user's other liked from disliked coffees.
- Real reviews: the two halves of one review stand for two tastings: recall@1 / @10 on test reviews, on two
  test splits made differently (``real_data``): the dev test split (coffees hashed) and the recent one (the newest
  reviews' coffees; metric names end in ``_recent``).
- Linear probes (ridge, lambda picked on val, reported on each test split): review rating and roast level from
  review text; CQI Total.Cup.Points from the CQI scores, next to the same probe on the raw scores.
- A 2-D PCA map of held-out coffee embeddings coloured by dominant flavour category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from taste2vec.features import FeatureExtractor
from taste2vec.lexicon import SensoryLexicon
from taste2vec.records import TastingRecord

from .model import Taste2Vec, TextFeaturizer, init_scaler
from .synthetic import TasteWorld, WorldConfig
from .train import Pool, make_pool, model_config_for

EVAL_K = (1, 10)
RECENT = "_recent"  # the suffix of a real metric measured on the recent test split
# the real test splits (real_data.Review.in_split): split -> (its EvalData pools' prefix, its metric names' suffix)
TEST_SPLITS = {"test": ("real", ""), "recent": ("recent", RECENT)}


@torch.no_grad()
def embed(model: Taste2Vec, pool: Pool, only: str | None = None, batch: int = 1024) -> np.ndarray:
    """Embeddings of a pool; ``only`` keeps a single modality (ablation)."""
    model.eval()
    out = []
    n = len(pool)
    for s in range(0, n, batch):
        b = pool.take(np.arange(s, min(n, s + batch)))
        keep = None
        if only is not None:
            ones = torch.ones(len(b["lexicon"]), 1)
            keep = {m: ones * (m == only) for m in Taste2Vec.MODALITIES}
        out.append(model(b, keep).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.cfg.embed_dim), np.float32)


def recall_at_k(queries: np.ndarray, gallery: np.ndarray, ks: Sequence[int] = EVAL_K) -> dict[str, float]:
    """Row i of ``queries`` matches row i of ``gallery``; share of queries whose match ranks in the top k."""
    sims = queries @ gallery.T
    true = np.diag(sims)
    rank = (sims > true[:, None]).sum(1)  # 0 = best
    return {f"recall@{k}": float((rank < k).mean()) for k in ks}


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability a positive scores above a negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def ridge_fit(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ridge on standardized features with an unpenalized intercept; the dual form when features outnumber rows
    (a TF-IDF baseline has thousands of columns)."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    y_mean = y.mean(0)
    if z.shape[1] > z.shape[0]:  # z is centred, so the intercept is the mean target
        coef = z.T @ np.linalg.solve(z @ z.T + lam * np.eye(len(z)), y - y_mean)
        return np.concatenate([coef, np.asarray(y_mean)[None]], axis=0), mu, sd, y_mean
    xs = np.hstack([z, np.ones((len(x), 1))])
    reg = lam * np.eye(xs.shape[1])
    reg[-1, -1] = 0
    w = np.linalg.solve(xs.T @ xs + reg, xs.T @ y)
    return w, mu, sd, y_mean


def ridge_predict(model, x: np.ndarray) -> np.ndarray:
    w, mu, sd, _ = model
    return np.hstack([(x - mu) / sd, np.ones((len(x), 1))]) @ w


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - ((y - p) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12))


def probe(xs: dict[str, np.ndarray], ys: dict[str, np.ndarray], kind: str, test: str = "test") -> dict[str, float]:
    """Ridge probe: lambda by val score, reported on ``test``. ``kind``: 'regression' (R^2) or 'classes'
    (accuracy)."""
    best = None
    for lam in (0.1, 1.0, 10.0, 100.0, 1000.0):
        m = ridge_fit(xs["train"], ys["train"], lam)
        p = ridge_predict(m, xs["val"])
        score = r2(ys["val"], p) if kind == "regression" else float((p.argmax(1) == ys["val"].argmax(1)).mean())
        if best is None or score > best[0]:
            best = (score, lam, m)
    p = ridge_predict(best[2], xs[test])
    if kind == "regression":
        return {"r2": r2(ys[test], p), "lambda": best[1], "n_test": int(len(p))}
    majority = float((ys[test].argmax(1) == ys["train"].sum(0).argmax()).mean())
    return {"accuracy": float((p.argmax(1) == ys[test].argmax(1)).mean()), "majority_baseline": majority,
            "lambda": best[1], "n_test": int(len(p))}


@dataclass
class EvalData:
    """Pools the evaluation embeds (built once, reused for the trained and untrained models)."""

    syn_a: Pool
    syn_b: Pool
    syn_categories: np.ndarray
    en: Pool
    ko: Pool
    pref_pool: Pool
    pref_users: list[tuple[list[int], list[int]]]
    real_a: Pool | None
    real_b: Pool | None
    review_pools: dict[str, Pool]
    review_rating: dict[str, np.ndarray]
    review_roast: dict[str, np.ndarray]
    cqi_pools: dict[str, Pool]
    cqi_raw: dict[str, np.ndarray]
    cqi_total: dict[str, np.ndarray]
    records: "RecordsEval | None" = None
    recent_a: Pool | None = None  # the halves of the recent test split's reviews
    recent_b: Pool | None = None


@dataclass
class RecordsEval:
    """Held-out items of a bring-your-own records file: two records per item (query / gallery), and per user
    the records of their liked training items (profile) and of their liked / disliked held-out items."""

    a: Pool
    b: Pool
    pref_pool: Pool
    pref_users: list[tuple[list[int], list[int], list[int]]]  # rows: profile, liked held-out, disliked held-out

    @classmethod
    def build(cls, rf, extractor: FeatureExtractor, featurizer: TextFeaturizer, split: str = "test",
              min_history: int = 2) -> "RecordsEval | None":
        held = rf.split(split)
        by_item: dict[str, list] = {}
        for r in held:
            by_item.setdefault(r.item_id, []).append(r.record)
        pairs = [v[:2] for v in by_item.values() if len(v) >= 2]
        if len(pairs) < 2:
            return None
        history: dict[str, list] = {}
        liked: dict[str, list] = {}
        disliked: dict[str, list] = {}
        for r in rf.records:
            if r.user_id is None or r.liked is None:
                continue
            if r.split == "train" and r.liked:
                history.setdefault(r.user_id, []).append(r.record)
            elif r.split == split:
                (liked if r.liked else disliked).setdefault(r.user_id, []).append(r.record)
        rows: list = []
        users = []
        for u in history:
            if len(history[u]) >= min_history and u in liked and u in disliked:
                idx = []
                for part in (history[u], liked[u], disliked[u]):
                    idx.append(list(range(len(rows), len(rows) + len(part))))
                    rows += part
                users.append(tuple(idx))
        make = lambda recs: make_pool(recs, extractor, featurizer, "records eval")  # noqa: E731
        return cls(make([p[0] for p in pairs]), make([p[1] for p in pairs]), make(rows), users)

    def pools(self) -> list[Pool]:
        return [self.a, self.b, self.pref_pool]


def records_metrics(embed_pool: Callable[[Pool], np.ndarray], rec: RecordsEval) -> dict[str, Any]:
    """Same-item retrieval and preference AUC on a records file's held-out items."""
    out: dict[str, Any] = {"records_retrieval": {**recall_at_k(embed_pool(rec.a), embed_pool(rec.b)),
                                                 "gallery": len(rec.b)}}
    if rec.pref_users:
        emb = embed_pool(rec.pref_pool)
        aucs = []
        for hist, liked, disliked in rec.pref_users:
            prof = emb[hist].mean(0)
            prof /= np.linalg.norm(prof) + 1e-12
            aucs.append(auc(emb[liked] @ prof, emb[disliked] @ prof))
        out["records_preference"] = {"auc": float(np.mean(aucs)), "users": len(aucs)}
    return out


def build_eval_data(world: TasteWorld, featurizer: TextFeaturizer, extractor: FeatureExtractor,
                    real: bool = True, max_real: int | None = None, records_file=None) -> EvalData:
    """Every evaluation pool; ``records_file``: a read bring-your-own file whose test items are evaluated too."""
    test = world.coffees("test")
    syn_a = make_pool([world.record(c.id, 100).record for c in test], extractor, featurizer, "eval A")
    syn_b = make_pool([world.record(c.id, 101).record for c in test], extractor, featurizer, "eval B")
    en = make_pool([world.record(c.id, 102, lang="en", notes_only=True).record for c in test], extractor, featurizer)
    ko = make_pool([world.record(c.id, 102, lang="ko", notes_only=True).record for c in test], extractor, featurizer)
    pos = {c.id: i for i, c in enumerate(test)}
    pref_pool = make_pool([world.record(c.id, 103).record for c in test], extractor, featurizer)
    users = []
    for uid in range(world.config.n_users):
        if world.user(uid).split == "test":
            liked, disliked = world.feedback(uid, "test")
            users.append(([pos[c] for c in liked], [pos[c] for c in disliked]))
    data = dict(real_a=None, real_b=None, review_pools={}, review_rating={}, review_roast={}, cqi_pools={},
                cqi_raw={}, cqi_total={})
    if real:
        from .real_data import REVIEW_SPLITS, ROAST_LEVELS, load_cqi, load_reviews

        try:
            reviews, cqi = load_reviews(), load_cqi()
        except FileNotFoundError:
            reviews, cqi = [], []
        for split, (prefix, _) in TEST_SPLITS.items():
            halves = [h for r in reviews if r.in_split(split) and (h := r.halves())][:max_real]
            if halves:
                data[f"{prefix}_a"] = make_pool([TastingRecord(notes=a) for a, _ in halves], extractor, featurizer)
                data[f"{prefix}_b"] = make_pool([TastingRecord(notes=b) for _, b in halves], extractor, featurizer)
        for split in REVIEW_SPLITS:
            rs = [r for r in reviews if r.in_split(split) and r.rating is not None and r.roast is not None][:max_real]
            if rs:
                data["review_pools"][split] = make_pool([r.record() for r in rs], extractor, featurizer)
                data["review_rating"][split] = np.array([r.rating for r in rs], dtype=np.float64)
                data["review_roast"][split] = np.eye(len(ROAST_LEVELS))[[ROAST_LEVELS.index(r.roast) for r in rs]]
            cs = [c for c in cqi if c.split == split][:max_real]
            if cs:
                data["cqi_pools"][split] = make_pool([c.record() for c in cs], extractor, featurizer)
                data["cqi_raw"][split] = np.array([[c.metrics[m] for m in sorted(c.metrics)] for c in cs])
                data["cqi_total"][split] = np.array([c.total for c in cs], dtype=np.float64)
    if records_file is not None:
        data["records"] = RecordsEval.build(records_file, extractor, featurizer)
    return EvalData(syn_a, syn_b, np.array([c.top_category for c in test]), en, ko, pref_pool, users, **data)


def cross_lingual(en: np.ndarray, ko: np.ndarray) -> dict[str, float]:
    sims = en @ ko.T
    true = np.diag(sims)
    n = len(true)
    wins = (true[:, None] > sims).sum(1)  # diagonal never counts (not strictly greater)
    return {"agreement": float(wins.sum() / (n * (n - 1))), **{f"en_to_ko_{k}": v for k, v in
                                                              recall_at_k(en, ko).items()}}


def preference_auc(emb: np.ndarray, users: list[tuple[list[int], list[int]]], support: int = 4) -> dict[str, float]:
    aucs = []
    for liked, disliked in users:
        if len(liked) <= support or not disliked:
            continue
        prof = emb[liked[:support]].mean(0)
        prof /= np.linalg.norm(prof) + 1e-12
        aucs.append(auc(emb[liked[support:]] @ prof, emb[disliked] @ prof))
    return {"auc": float(np.mean(aucs)) if aucs else float("nan"), "users": len(aucs)}


def real_metrics(embed_pool: Callable[[Pool], np.ndarray], data: EvalData) -> dict[str, Any]:
    """The real-review tasks for any embedding of pools (a model, a baseline, a converted variant):
    half-vs-half retrieval on test reviews, and ridge probes for the rating and the roast level, on each test split
    (the recent split's names end in ``_recent``)."""
    res: dict[str, Any] = {}
    for prefix, suffix in TEST_SPLITS.values():
        a, b = getattr(data, f"{prefix}_a"), getattr(data, f"{prefix}_b")
        if a is not None:
            res["real_review_retrieval" + suffix] = {**recall_at_k(embed_pool(a), embed_pool(b)), "gallery": len(b)}
    if {"train", "val", "test"} <= set(data.review_pools):
        xs = {s: embed_pool(p) for s, p in data.review_pools.items()}
        for test, (_, suffix) in TEST_SPLITS.items():
            if test in xs:
                res["probe_review_rating" + suffix] = probe(xs, data.review_rating, "regression", test)
                res["probe_review_roast" + suffix] = probe(xs, data.review_roast, "classes", test)
    return res


def baseline_results(data: EvalData, featurizer: TextFeaturizer | None = None) -> dict[str, dict[str, Any]]:
    """On the real tasks, measured now: TF-IDF (fitted on the training reviews), raw all-MiniLM-L6-v2 and, when
    ``featurizer`` (the model's text encoder) is fine-tuned, that encoder alone (mean-pooled, 384-d)."""
    from .baselines import minilm_embedder, tfidf_embedder

    if data.real_a is None and not data.review_pools:
        return {}
    train = data.review_pools.get("train")
    tfidf = tfidf_embedder(train.notes if train is not None else data.real_a.notes + data.real_b.notes)
    tuned = featurizer if featurizer is not None and featurizer.tuned else None
    encoders = {"raw MiniLM": featurizer if featurizer is not None and tuned is None else TextFeaturizer()}
    if tuned is not None:
        encoders["fine-tuned MiniLM"] = tuned
    out = {"TF-IDF": real_metrics(lambda p: tfidf(p.notes), data)}
    for name, enc in encoders.items():
        run = minilm_embedder(enc)
        out[name] = real_metrics(lambda p, run=run: run(p.notes), data)
    return out


def evaluate_model(model: Taste2Vec, data: EvalData, ablation: bool = True) -> dict[str, Any]:
    """All metrics of one model on prepared evaluation data."""
    res: dict[str, Any] = {}
    a, b = embed(model, data.syn_a), embed(model, data.syn_b)
    res["synthetic_retrieval"] = {**recall_at_k(a, b), "gallery": int(len(b))}
    if ablation:
        res["ablation"] = {"all": res["synthetic_retrieval"]}
        for m in Taste2Vec.MODALITIES:
            res["ablation"][f"{m} only"] = recall_at_k(embed(model, data.syn_a, m), embed(model, data.syn_b, m))
    res["cross_lingual"] = cross_lingual(embed(model, data.en), embed(model, data.ko))
    res["preference"] = preference_auc(embed(model, data.pref_pool), data.pref_users)
    res.update(real_metrics(lambda p: embed(model, p), data))
    if data.records is not None:
        res.update(records_metrics(lambda p: embed(model, p), data.records))
    if len(data.cqi_pools) == 3:
        xs = {s: embed(model, p) for s, p in data.cqi_pools.items()}
        res["probe_cqi_total"] = probe(xs, data.cqi_total, "regression")
        res["probe_cqi_total"]["raw_scores_r2"] = probe(data.cqi_raw, data.cqi_total, "regression")["r2"]
    res["_embeddings"] = a
    return res


def untrained_model(lexicon: SensoryLexicon, data: EvalData, seed: int = 0) -> Taste2Vec:
    """The same architecture at random init (scaler fitted on the eval pool so numbers are sane)."""
    torch.manual_seed(seed)
    m = Taste2Vec(model_config_for(lexicon))
    p = data.syn_a.all()
    init_scaler(m, p["metrics"], p["metrics_mask"])
    return m.eval()


def run_evaluation(model: Taste2Vec, world_config: WorldConfig, out_dir: str | Path, real: bool = True,
                   featurizer: TextFeaturizer | None = None, max_real: int | None = None,
                   records_file=None) -> dict[str, Any]:
    """Evaluate, write ``evaluation.json`` and ``evaluation.png`` into ``out_dir``, return the results.

    ``featurizer``: the model's text encoder (a checkpoint's: :func:`checkpoint.featurizer_for`); the real-data
    baselines (TF-IDF, raw MiniLM) are measured in the same run."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lexicon = SensoryLexicon.default()
    world = TasteWorld(world_config, lexicon)
    featurizer = featurizer or TextFeaturizer()
    data = build_eval_data(world, featurizer, FeatureExtractor(lexicon), real, max_real, records_file)
    res = evaluate_model(model, data)
    base = evaluate_model(untrained_model(lexicon, data), data, ablation=False)
    res["ablation"]["untrained"] = base["synthetic_retrieval"]
    if real:
        res["baselines"] = baseline_results(data, featurizer)
    res["untrained"] = {k: v for k, v in base.items() if not k.startswith("_")}
    emb = res.pop("_embeddings")
    res["categories"] = world.category_names
    (out / "evaluation.json").write_text(json.dumps(res, indent=2))
    plot_evaluation(res, emb, data.syn_categories, world.category_names, out / "evaluation.png")
    return res


def plot_evaluation(res: dict[str, Any], emb: np.ndarray, cats: np.ndarray, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
    x = emb - emb.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        sel = cats == i
        if sel.any():
            ax1.scatter(xy[sel, 0], xy[sel, 1], s=14, color=cmap(i % 10), label=f"{name} ({int(sel.sum())})")
    ax1.set_title("Held-out coffees (PCA of taste vectors), by dominant flavour category")
    ax1.legend(fontsize=7, loc="best")
    ab = res["ablation"]
    labels = list(ab)
    r1 = [ab[k]["recall@1"] for k in labels]
    r10 = [ab[k]["recall@10"] for k in labels]
    pos = np.arange(len(labels))
    ax2.bar(pos - 0.2, r1, 0.4, label="recall@1")
    ax2.bar(pos + 0.2, r10, 0.4, label="recall@10")
    ax2.set_xticks(pos, labels, rotation=20)
    ax2.set_ylim(0, 1)
    ax2.set_title(f"Same-coffee retrieval, held-out synthetic coffees (gallery {res['synthetic_retrieval']['gallery']})")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(res: dict[str, Any]) -> str:
    """The evaluation as a plain-text table."""
    rows = []
    sr = res["synthetic_retrieval"]
    rows.append(("synthetic retrieval (held-out coffees)", f"R@1 {sr['recall@1']:.3f}  R@10 {sr['recall@10']:.3f}"
                 f"  (gallery {sr['gallery']})"))
    for k, v in res.get("ablation", {}).items():
        rows.append((f"  ablation: {k}", f"R@1 {v['recall@1']:.3f}  R@10 {v['recall@10']:.3f}"))
    cl = res["cross_lingual"]
    rows.append(("cross-lingual agreement (EN vs KO notes)", f"{cl['agreement']:.3f}  (EN->KO R@1 "
                 f"{cl['en_to_ko_recall@1']:.3f}, R@10 {cl['en_to_ko_recall@10']:.3f})"))
    pr = res["preference"]
    rows.append(("preference AUC (held-out users & coffees)", f"{pr['auc']:.3f}  ({pr['users']} users)"))
    if "real_review_retrieval" in res:
        rr = res["real_review_retrieval"]
        rows.append(("real reviews: half-vs-half retrieval", f"R@1 {rr['recall@1']:.3f}  R@10 {rr['recall@10']:.3f}"
                     f"  (gallery {rr['gallery']})"))
    if "probe_review_rating" in res:
        rows.append(("probe: review rating from text", f"R^2 {res['probe_review_rating']['r2']:.3f}"))
        p = res["probe_review_roast"]
        rows.append(("probe: roast level from text", f"acc {p['accuracy']:.3f}  (majority {p['majority_baseline']:.3f})"))
    if "probe_cqi_total" in res:
        p = res["probe_cqi_total"]
        rows.append(("probe: CQI Total.Cup.Points from scores", f"R^2 {p['r2']:.3f}  (raw scores {p['raw_scores_r2']:.3f})"))
    if "records_retrieval" in res:
        rr = res["records_retrieval"]
        rows.append(("your records: same-item retrieval (held-out)", f"R@1 {rr['recall@1']:.3f}  R@10 "
                     f"{rr['recall@10']:.3f}  (gallery {rr['gallery']})"))
    if "records_preference" in res:
        rp = res["records_preference"]
        rows.append(("your records: preference AUC (held-out)", f"{rp['auc']:.3f}  ({rp['users']} users)"))
    if "untrained" in res:
        u = res["untrained"]
        rows.append(("untrained: cross-lingual / preference AUC",
                     f"{u['cross_lingual']['agreement']:.3f} / {u['preference']['auc']:.3f}"))
    width = max(len(r[0]) for r in rows)
    table = "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)
    if res.get("baselines") and "real_review_retrieval" in res:
        table += "\n\n" + real_table({**res["baselines"], "this model (128-d)": res})
    return table


def real_table(rows: dict[str, dict[str, Any]]) -> str:
    """Side-by-side real-data table, both test splits: one row per model or baseline, measured in the same run."""
    cols = ("R@1", "R@10", "rating R^2", "roast acc")
    head = (f"{'real data':<28} | {'dev test split':^43} | {'recent test split':^43}\n{'':<28} | "
            + " | ".join(" ".join(f"{c:>10}" for c in cols) for _ in range(2)))
    lines = [head, "-" * len(head.splitlines()[1])]
    for name, r in rows.items():
        halves = []
        for _, suffix in TEST_SPLITS.values():
            rr = r.get("real_review_retrieval" + suffix, {})
            cells = [rr.get("recall@1"), rr.get("recall@10"), r.get("probe_review_rating" + suffix, {}).get("r2"),
                     r.get("probe_review_roast" + suffix, {}).get("accuracy")]
            halves.append(" ".join(f"{v:>10.3f}" if v is not None else f"{'-':>10}" for v in cells))
        lines.append(f"{name:<28} | {halves[0]} | {halves[1]}")
    return "\n".join(lines)
