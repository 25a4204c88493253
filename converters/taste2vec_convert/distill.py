"""Distill the reference Taste2Vec (teacher) into the on-device student.

Transfer set (training splits only): synthetic tastings of every training coffee in mixed languages,
English-only and Korean-only notes of each, real review text (whole reviews and their two halves) and
review-like texts recombined from the training reviews' sentences. The student's WordPiece vocabulary is learned
from the same texts plus every lexicon term.

Each step draws a batch and one random modality mask (the same for teacher and student, so the student
also learns what the teacher does with any subset of fields), hides ``token_dropout`` of the student's pieces
(the teacher reads the whole text: the student learns to read a text it half knows, as it must on unseen
reviews) and minimizes

- ``w_cos`` x (1 - cosine) between the 128-d outputs,
- ``w_mse`` x mean squared error of the 128-d fusion outputs *before* L2 normalization (after it, MSE would
  only repeat the cosine),
- ``w_sim`` x MSE between the batch's student and teacher cosine-similarity matrices, plus ``w_rank`` x
  the KL divergence of their row-wise softmax at temperature ``rank_temperature`` (the similarity
  *structure* retrieval depends on),
- ``w_hint`` x MSE between the student's and the teacher's text blocks (the only branch that is new),
- ``w_rating`` x MSE between a linear read-out of the student's vector (``Student.rating_head``, not exported)
  and a review text's cross-fitted rating target (:func:`rating_targets`), where the text has one.

Checkpoints (safetensors + JSON, resumable) go to ``out/student``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from taste2vec.features import FeatureExtractor
from taste2vec.lexicon import SensoryLexicon
from taste2vec.records import TastingRecord
from taste2vec.tokenizer import WordPieceTokenizer
from taste2vec_reference.checkpoint import _atomic_write, load_train_state, save_train_state, sha256_file
from taste2vec_reference.determinism import portable_adamw
from taste2vec_reference.model import Taste2Vec, TextFeaturizer
from taste2vec_reference.synthetic import TasteWorld, WorldConfig
from taste2vec_reference.train import Pool, make_pool, modality_keep, warmup_cosine

from .student import Student, StudentConfig
from .vocab import train_wordpiece

STUDENT_FORMAT = "taste2vec.student.checkpoint/1"
RATING_RIDGE_LAMBDA = 1000.0  # the rating targets' ridge penalty: the TF-IDF probe's choice on the val reviews


@dataclass
class DistillConfig:
    """Everything that determines a distillation run."""

    seed: int = 0
    tastings_per_coffee: int = 8
    use_real_reviews: bool = True
    # review-like texts made of training-review sentences (see recombined_review_texts): the more of them, the
    # better the student reads reviews it never saw (converters/README.md: more review prose and token dropout)
    recombined_texts: int = 60000
    vocab_size: int = 8192
    # token-length buckets; the longest caps the notes' tokens. The bag's cost per token is one lookup, so it
    # reads 128 tokens (a transformer student had to stop at 48 for the emulated-aarch64 budget)
    buckets: tuple[int, ...] = (16, 32, 64, 128)
    # student text path: "transformer" | "bag" | "hybrid" (see student.py). The bag with hashed bigrams keeps
    # the most of the teacher's real-data retrieval per millisecond (converters/README.md: student text paths)
    text_arch: str = "bag"
    n_layers: int = 2
    d_model: int = 64
    bag_dim: int = 128  # 64 -> 128: real R@10 0.687 -> 0.722 on the dev test split (converters/README.md)
    bigram_buckets: int = 8191
    bag_attention: bool = False
    steps: int = 4000
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    modality_keep: float = 0.8
    w_cos: float = 1.0
    w_mse: float = 1.0
    w_sim: float = 1.0
    w_rank: float = 1.0
    rank_temperature: float = 0.05
    w_hint: float = 0.5
    token_dropout: float = 0.1  # share of the student's pieces hidden each step (the teacher reads the whole text)
    # the review rating read off the taste vector by a linear head (training only), on cross-fitted targets
    # (rating_targets); heavier weights cost retrieval (converters/README.md: a rating read-out)
    w_rating: float = 1.0
    rating_folds: int = 5
    checkpoint_every: int = 1000
    log_every: int = 50

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["buckets"] = list(self.buckets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DistillConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "buckets" in d:
            d["buckets"] = tuple(d["buckets"])
        return cls(**d)


@dataclass
class TransferSet:
    """The transfer pool (features + teacher text features + token ids) and the tokenizer learned on it."""

    pool: Pool
    tokenizer: WordPieceTokenizer
    sources: dict[str, int] = field(default_factory=dict)


def transfer_records(world: TasteWorld, per_coffee: int, real_reviews: bool, recombined: int = 0,
                     seed: int = 0, rating_folds: int = 0) -> tuple[list[TastingRecord], dict[str, int], np.ndarray]:
    """Training-split records for distillation (never the teacher's test coffees or test reviews), their sources,
    and per record the review rating target (:func:`rating_targets`; NaN where none)."""
    coffees = world.coffees("train")
    recs = [world.record(c.id, 1000 + k).record for c in coffees for k in range(per_coffee)]
    sources = {"synthetic tastings": len(recs)}
    for lang in ("en", "ko"):
        more = [world.record(c.id, 2000, lang=lang, notes_only=True).record for c in coffees]
        recs += more
        sources[f"synthetic {lang}-only notes"] = len(more)
    rating = np.full(len(recs), np.nan, dtype=np.float32)
    if real_reviews:
        from taste2vec_reference.real_data import load_reviews

        try:
            reviews = [r for r in load_reviews() if r.in_split("train")]
        except FileNotFoundError:
            reviews = []
        texts = [(r.text, i) for i, r in enumerate(reviews)] + \
            [(h, i) for i, r in enumerate(reviews) if (hs := r.halves()) for h in hs]
        sources["real review texts"] = len(texts)
        more = recombined_review_texts(reviews, recombined, seed)
        sources["recombined review sentences"] = len(more)
        texts += more
        recs += [TastingRecord(notes=t) for t, _ in texts]
        rating = np.concatenate([rating, rating_targets(reviews, [t for t, _ in texts], [i for _, i in texts],
                                                        rating_folds)])
    return recs, sources, rating


def recombined_review_texts(reviews, n: int, seed: int = 0, k: tuple[int, int] = (1, 5)
                            ) -> list[tuple[str, int]]:
    """``n`` unlabeled review-like texts: 1 to 4 sentences drawn from the training reviews (mostly from one review,
    sometimes mixed from two), for the teacher to label. The student then learns the teacher's text function on far
    more prose than the 1,199 training reviews, without a single test review. Each text comes with the index in
    ``reviews`` of the review it is drawn from (-1: mixed from two)."""
    from taste2vec_reference.real_data import split_sentences

    per_review = [(i, s) for i, r in enumerate(reviews) if (s := split_sentences(r.text))]
    if not per_review or n <= 0:
        return []
    rng = np.random.default_rng([seed, 31])
    out = []
    for _ in range(n):
        owner, sents = per_review[rng.integers(len(per_review))]
        if rng.random() < 0.25:
            sents, owner = sents + per_review[rng.integers(len(per_review))][1], -1
        m = int(rng.integers(k[0], min(k[1], len(sents) + 1)))
        pick = np.sort(rng.choice(len(sents), size=m, replace=False))
        out.append((" ".join(sents[i] for i in pick), owner))
    return out


def rating_targets(reviews, texts: Sequence[str], owners: Sequence[int], folds: int) -> np.ndarray:
    """Cross-fitted rating targets for review texts: each text's rating as predicted by a TF-IDF ridge (the best
    text-to-rating model measured on held-out reviews, docs/real-data.md) fitted on the training reviews outside
    its review's fold, standardized by that model's training ratings. A training review's target is then as honest
    as an unseen review's: the student learns to read the rating, not to remember it. NaN: a text of no single
    review (so no target comes from a model that saw the review it reads)."""
    from taste2vec_reference.baselines import tfidf_embedder
    from taste2vec_reference.evaluate import ridge_fit, ridge_predict

    y = np.array([np.nan if r.rating is None else r.rating for r in reviews], dtype=np.float64)
    owners = np.asarray(owners, dtype=np.int64)
    out = np.full(len(texts), np.nan, dtype=np.float32)
    if folds < 2 or np.isnan(y).all():
        return out
    fold = np.arange(len(reviews)) % folds
    text_fold = np.full(len(owners), -1)
    text_fold[owners >= 0] = fold[owners[owners >= 0]]
    for f in range(folds):
        fit = np.flatnonzero((fold != f) & ~np.isnan(y))
        rows = np.flatnonzero(text_fold == f)
        if len(rows) == 0 or len(fit) < 2:
            continue
        fit_texts = [reviews[i].text for i in fit]
        tfidf = tfidf_embedder(fit_texts)
        model = ridge_fit(tfidf(fit_texts), y[fit], RATING_RIDGE_LAMBDA)
        pred = ridge_predict(model, tfidf([texts[i] for i in rows]))
        out[rows] = (pred - y[fit].mean()) / (y[fit].std() + 1e-6)
    return out


def build_transfer_set(cfg: DistillConfig, world_config: WorldConfig, featurizer: TextFeaturizer,
                       lexicon: SensoryLexicon | None = None) -> TransferSet:
    """Records -> features -> teacher text features (+ rating targets); learn the vocabulary; add token ids."""
    lexicon = lexicon or SensoryLexicon.default()
    world = TasteWorld(world_config, lexicon)
    recs, sources, rating = transfer_records(world, cfg.tastings_per_coffee, cfg.use_real_reviews,
                                             cfg.recombined_texts, cfg.seed, cfg.rating_folds)
    pool = make_pool(recs, FeatureExtractor(lexicon), featurizer, "transfer features")
    pool.tensors["rating"] = torch.from_numpy(rating)
    tok = train_wordpiece(pool.notes, vocab_size=cfg.vocab_size, buckets=cfg.buckets,
                          extra_words=[t.text for t in lexicon.terms])
    pool.add_token_ids(lambda notes: tok.encode_batch(notes, length=tok.max_tokens))
    return TransferSet(pool, tok, sources)


def student_config(cfg: DistillConfig, teacher: Taste2Vec, tokenizer: WordPieceTokenizer) -> StudentConfig:
    return StudentConfig.from_teacher(teacher.cfg, vocab_size=tokenizer.vocab_size, buckets=tuple(cfg.buckets),
                                      n_layers=cfg.n_layers, d_model=cfg.d_model, ff_dim=2 * cfg.d_model,
                                      text_arch=cfg.text_arch, bag_dim=cfg.bag_dim,
                                      bigram_buckets=cfg.bigram_buckets, bag_attention=cfg.bag_attention)


def distill_losses(cfg: DistillConfig, student: Student, teacher: Taste2Vec, batch: dict[str, torch.Tensor],
                   keep: dict[str, torch.Tensor], student_ids: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """The distillation objective of one batch (see module docs); ``student_ids``: the token ids the student reads
    (default: the batch's, as the teacher)."""
    with torch.no_grad():
        t_raw = teacher.raw(batch, keep)
        t_text = teacher.text_proj(batch["text_features"])
    t_z = F.normalize(t_raw, dim=-1)
    ids = batch["token_ids"] if student_ids is None else student_ids
    parts = student.branches({**batch, "token_ids": ids}, keep)
    s_raw = student.fuse(parts)
    s_z = F.normalize(s_raw, dim=-1)
    cos = (1 - (s_z * t_z).sum(-1)).mean()
    mse = F.mse_loss(s_raw, t_raw)
    s_sim, t_sim = s_z @ s_z.T, t_z @ t_z.T
    sim = F.mse_loss(s_sim, t_sim)
    tau = cfg.rank_temperature
    rank = F.kl_div(F.log_softmax(s_sim / tau, -1), F.log_softmax(t_sim / tau, -1), log_target=True,
                    reduction="batchmean")
    has_text = (ids > 0).any(-1) & (batch["text_features"].abs().sum(-1) > 0)
    hint = F.mse_loss(student.text(ids[has_text]), t_text[has_text]) if has_text.any() else \
        s_raw.sum() * 0
    rating = batch.get("rating")
    rated = ~torch.isnan(rating) if rating is not None else torch.zeros(len(s_z), dtype=torch.bool)
    rate = F.mse_loss(student.rating_head(s_z[rated]).squeeze(-1), rating[rated]) if rated.any() else \
        s_raw.sum() * 0
    loss = cfg.w_cos * cos + cfg.w_mse * mse + cfg.w_sim * sim + cfg.w_rank * rank + cfg.w_hint * hint + \
        cfg.w_rating * rate
    return loss, {"loss": loss.item(), "cos": cos.item(), "mse": mse.item(), "sim": sim.item(),
                  "rank": rank.item(), "hint": hint.item(), "rating": rate.item()}


def drop_tokens(ids: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """``ids`` with each piece hidden (0, as padding) with probability ``p``; a text keeps at least its first piece."""
    drop = torch.rand(ids.shape, generator=gen) < p
    drop[:, 0] = False
    return ids.masked_fill(drop, 0)


def _trim(batch: dict[str, torch.Tensor], buckets: Sequence[int]) -> dict[str, torch.Tensor]:
    """Cut token ids to the smallest bucket holding the batch's longest text (as the runtime would)."""
    n = int((batch["token_ids"] > 0).sum(-1).max())
    length = next((b for b in buckets if n <= b), buckets[-1])
    return {**batch, "token_ids": batch["token_ids"][:, :length]}


def _freeze_batchnorm(model: torch.nn.Module) -> None:
    """The teacher's scaler/BatchNorm statistics are copied, not re-estimated on distillation batches."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.eval()


def distill(cfg: DistillConfig, teacher: Taste2Vec, transfer: TransferSet, out_dir: str | Path,
            resume: bool = True, progress: bool = True, teacher_sha256: str = "") -> tuple[Student, list[dict]]:
    """Train the student on the transfer set; write ``out_dir/student`` (resumable)."""
    out = Path(out_dir) / "student"
    torch.manual_seed(cfg.seed)
    teacher = teacher.eval()
    scfg = student_config(cfg, teacher, transfer.tokenizer)
    student = Student.from_teacher(teacher, scfg)
    opt = portable_adamw(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    start, history = 0, []
    if resume and (out / "train_state.json").exists():
        loaded, _ = load_student(out)
        student.load_state_dict(loaded.state_dict())
        state = load_train_state(out, opt)
        start, history = int(state["step"]), state.get("history", [])
        gen.set_state(torch.tensor(state["torch_gen"], dtype=torch.uint8))
        rng.bit_generator.state = state["numpy_rng"]
    sched = warmup_cosine(opt, cfg.steps, start)
    pool, n = transfer.pool, len(transfer.pool)
    student.train()
    _freeze_batchnorm(student)
    bar = tqdm(range(start, cfg.steps), desc="distill", initial=start, total=cfg.steps,
               disable=None if progress else True)  # a bar on a TTY only
    t0 = time.time()
    for step in bar:
        idx = rng.choice(n, size=min(cfg.batch, n), replace=False)
        batch = _trim(pool.take(idx), cfg.buckets)
        keep = modality_keep(len(idx), cfg.modality_keep, gen)
        ids = drop_tokens(batch["token_ids"], cfg.token_dropout, gen) if cfg.token_dropout > 0 else None
        loss, logs = distill_losses(cfg, student, teacher, batch, keep, ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 5.0)
        opt.step()
        sched.step()
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            history.append({"step": step, **{k: round(v, 5) for k, v in logs.items()}})
            bar.set_postfix(cos=f"{logs['cos']:.4f}", rank=f"{logs['rank']:.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step == cfg.steps - 1:
            save_student(out, student, transfer.tokenizer, cfg, teacher_sha256,
                         train_state={"step": step + 1, "history": history, "torch_gen": gen.get_state().tolist(),
                                      "numpy_rng": rng.bit_generator.state}, optimizer=opt)
    student.eval()
    if progress:
        bar.write(f"distilled {cfg.steps - start} steps in {time.time() - t0:.1f}s")
    return student, history


def save_student(folder: str | Path, student: Student, tokenizer: WordPieceTokenizer, cfg: DistillConfig,
                 teacher_sha256: str = "", train_state: dict | None = None,
                 optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Student weights (safetensors), config and tokenizer (JSON); optionally the resume state."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.safetensors.tmp"
    save_file({k: v.detach().contiguous() for k, v in student.state_dict().items()}, str(tmp),
              metadata={"format": STUDENT_FORMAT})
    tmp.replace(folder / "model.safetensors")
    tokenizer.save(folder / "tokenizer.json")
    meta = {"format": STUDENT_FORMAT, "student": student.cfg.to_dict(), "distill": cfg.to_dict(),
            "teacher_sha256": teacher_sha256, "model_sha256": sha256_file(folder / "model.safetensors"),
            "tokenizer_sha256": sha256_file(folder / "tokenizer.json")}
    _atomic_write(folder / "config.json", json.dumps(meta, indent=2).encode())
    if optimizer is not None:
        save_train_state(folder, optimizer, train_state)
    return folder


def load_student(folder: str | Path) -> tuple[Student, dict[str, Any]]:
    """Load a student checkpoint (eval mode); refuse a corrupt one."""
    from taste2vec_reference.checkpoint import CheckpointError

    folder = Path(folder)
    try:
        meta = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder} is not a student checkpoint: {e}") from e
    if meta.get("format") != STUDENT_FORMAT:
        raise CheckpointError(f"{folder}: format {meta.get('format')!r}, expected {STUDENT_FORMAT}")
    for name, key in (("model.safetensors", "model_sha256"), ("tokenizer.json", "tokenizer_sha256")):
        if sha256_file(folder / name) != meta[key]:
            raise CheckpointError(f"{folder / name}: sha256 does not match config.json (corrupt or replaced)")
    student = Student(StudentConfig.from_dict(meta["student"]))
    student.load_state_dict(load_file(str(folder / "model.safetensors")))
    return student.eval(), meta
