"""Training the reference Taste2Vec.

Objective (per step):

- **InfoNCE** between two tastings of the same coffee (different tasters, languages, contexts) against the
  other coffees of the batch; the same on two halves of one real review (weight ``real_weight``);
- **auxiliary heads** on the embedding: the coffee's true sensory intensities (MSE) and its flavour-category
  distribution (soft cross-entropy);
- **preference**: a user's profile (normalized mean of embeddings of coffees they liked) must be closer to
  a held-out liked coffee than to a disliked one (logistic ranking loss; scaling a liked vector before an MSE
  would be undone by the L2 normalization).

- **your records** (``records``, a bring-your-own JSON-lines file): InfoNCE between two records of the same
  training item (weight ``records_weight``); their users' likes join the preference loss.

Before that, the text encoder (all-MiniLM-L6-v2) is fine-tuned on real tasting prose (``text``, see
:mod:`text_tuning`); during this training it is frozen, so its 384-d features are computed once per text and
cached. Records are drawn from a fixed pool of ``pool_per_coffee`` tastings per training coffee.
Training is resumable: ``train(..., resume=True)`` continues from ``out/checkpoint`` if it exists.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from taste2vec.features import FeatureBatch, FeatureExtractor
from taste2vec.lexicon import SensoryLexicon
from taste2vec.records import TastingRecord
from taste2vec.spec import default_spec

from .checkpoint import load_checkpoint, load_train_state, save_checkpoint
from .determinism import portable_adamw
from .model import TEXT_ENCODER_FILE, Taste2Vec, Taste2VecConfig, TextFeaturizer, info_nce, init_scaler, \
    preference_loss
from .synthetic import TRUTH_METRICS, TasteWorld, WorldConfig
from .text_tuning import TextTuneConfig


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved with the checkpoint)."""

    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)
    text: TextTuneConfig = field(default_factory=TextTuneConfig)  # text.layers == 0: MiniLM stays as pretrained
    pool_per_coffee: int = 6
    steps: int = 1000  # the real-review objectives overfit the 1,045 training reviews beyond this (docs/real-data.md)
    batch_coffees: int = 128
    batch_users: int = 32
    support: int = 4
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.07
    modality_keep: float = 0.8
    aux_weight: float = 0.5
    pref_weight: float = 0.5
    real_weight: float = 0.5
    real_views: int = 4  # random sentence splits per training review beyond its odd/even halves (augmentation)
    review_aux_weight: float = 0.5  # heads for a review's rating and roast level (training reviews' labels)
    text_block_weight: float = 1.0  # InfoNCE of real pairs on the text block alone (deep supervision)
    use_real_reviews: bool = True
    records: str | None = None  # a bring-your-own records file (JSON lines, see records_file)
    records_weight: float = 1.0
    skip_invalid: bool = False
    checkpoint_every: int = 500
    log_every: int = 50

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["world"] = asdict(self.world)
        d["text"] = self.text.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        w = dict(d.pop("world", {}))
        if "lang_mix" in w:
            w["lang_mix"] = tuple(w["lang_mix"])
        # checkpoints from before text tuning kept MiniLM frozen
        text = TextTuneConfig.from_dict(d.pop("text")) if "text" in d else TextTuneConfig(layers=0)
        return cls(world=WorldConfig(**w), text=text, **d)


def model_config_for(lexicon: SensoryLexicon, tuned: bool = False) -> Taste2VecConfig:
    """Model config whose input sizes and provenance follow the shipped spec and lexicon."""
    spec = default_spec()
    encoder = TextFeaturizer.base_name + (", fine-tuned on real tasting text" if tuned else "")
    return Taste2VecConfig(text_encoder=encoder, lexicon_dim=lexicon.dim, num_metrics=spec.num_metrics, context_width=spec.context_width,
                           context_steps=spec.context_max_steps, n_intensities=len(TRUTH_METRICS),
                           record_spec_version=spec.version, lexicon_version=lexicon.version,
                           log1p_metrics=[i for i, m in enumerate(spec.metrics) if m.transform == "log1p"])


class Pool:
    """Features of a list of records as tensors, plus the text features from the frozen encoder."""

    def __init__(self, feats: FeatureBatch, text_features: torch.Tensor) -> None:
        self.notes = list(feats.notes)
        self.tensors = {
            "text_features": text_features.float(),
            "lexicon": torch.from_numpy(feats.lexicon),
            "metrics": torch.from_numpy(feats.metrics),
            "metrics_mask": torch.from_numpy(feats.metrics_mask),
            "context": torch.from_numpy(feats.context),
            "context_mask": torch.from_numpy(feats.context_mask),
        }

    def __len__(self) -> int:
        return self.tensors["lexicon"].shape[0]

    def take(self, idx: torch.Tensor | np.ndarray | Sequence[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return {k: v[idx] for k, v in self.tensors.items()}

    def all(self) -> dict[str, torch.Tensor]:
        return self.tensors

    def add_token_ids(self, encode_batch: Callable[[list[str]], np.ndarray]) -> "Pool":
        """Add ``token_ids`` (int32 [N, T]) from the notes with a student tokenizer's ``encode_batch``."""
        self.tensors["token_ids"] = torch.from_numpy(np.asarray(encode_batch(self.notes), dtype=np.int32))
        return self


def make_pool(records: Sequence[TastingRecord], extractor: FeatureExtractor, featurizer: TextFeaturizer,
              desc: str = "features") -> Pool:
    """Extract features (lexicon, metrics, context) and frozen-text features for ``records``."""
    chunks = tqdm(range(0, len(records), 512), desc=desc, leave=False, disable=None)
    feats = FeatureBatch.concat([extractor.batch(records[i:i + 512]) for i in chunks]) if records else \
        extractor.batch([])
    return Pool(feats, featurizer(feats.notes))


def warmup_cosine(opt: torch.optim.Optimizer, steps: int, start: int = 0, warmup: int = 100):
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps``; resumable at ``start``."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / max(1, steps)))),
        last_epoch=start - 1)


def modality_keep(batch_size: int, p: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random per-record modality dropout; at least one modality always survives."""
    keep = (torch.rand(batch_size, 4, generator=gen) < p).float()
    none = keep.sum(1) == 0
    keep[none, torch.randint(0, 4, (int(none.sum()),), generator=gen)] = 1.0
    return {m: keep[:, i:i + 1] for i, m in enumerate(Taste2Vec.MODALITIES)}


Groups = list[np.ndarray]  # pool rows of each coffee / review / item; rows of one group are positives


@dataclass
class TrainingData:
    """Everything sampled from during training: one pool, and which rows belong together."""

    pool: Pool
    synthetic: Groups  # the synthetic training coffees' tastings
    truth: torch.Tensor  # [n synthetic coffees, n_intensities] / 10
    categories: torch.Tensor  # [n synthetic coffees, n_categories]
    users: list[tuple[Groups, Groups]]  # per user: liked / disliked coffees (synthetic users, then the file's)
    real: Groups = field(default_factory=list)  # views (halves, random splits) of each training review
    review_rating: torch.Tensor | None = None  # per review: standardized rating (NaN: none)
    review_roast: torch.Tensor | None = None  # per review: roast level index (-1: none)
    records: Groups = field(default_factory=list)  # the records file's training items
    records_file: dict[str, Any] | None = None  # summary of the file that was read

    @property
    def synthetic_rows(self) -> np.ndarray:
        return np.concatenate(self.synthetic) if self.synthetic else np.zeros(0, np.int64)


def _pairable(groups: Groups) -> np.ndarray:
    return np.asarray([i for i, g in enumerate(groups) if len(g) >= 2], dtype=np.int64)


def pair_rows(groups: Groups, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` groups with at least two rows, and two different rows of each: (group, row a, row b)."""
    ok = _pairable(groups)
    gi = ok[rng.choice(len(ok), size=min(n, len(ok)), replace=False)]
    r = np.stack([groups[g][rng.choice(len(groups[g]), size=2, replace=False)] for g in gi])
    return gi, r[:, 0], r[:, 1]


def read_training_records(cfg: TrainConfig):
    """The bring-your-own records of ``cfg.records`` (validated; bad lines raise or, with ``skip_invalid``, are
    counted)."""
    from .records_file import read_records

    return read_records(cfg.records, skip_invalid=cfg.skip_invalid)


def _record_groups(labelled, offset: int, support: int) -> tuple[Groups, list[tuple[Groups, Groups]]]:
    """Rows per item (file order) and per-user liked / disliked items, for records placed at ``offset``."""
    rows: dict[str, list[int]] = {}
    for i, r in enumerate(labelled):
        rows.setdefault(r.item_id, []).append(offset + i)
    groups = {k: np.asarray(v) for k, v in rows.items()}
    prefs: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for r in labelled:
        if r.user_id is not None and r.liked is not None:
            prefs.setdefault(r.user_id, ({}, {}))[0 if r.liked else 1][r.item_id] = None
    users = [([groups[k] for k in liked], [groups[k] for k in disliked]) for liked, disliked in prefs.values()
             if len(liked) > support and disliked]
    return list(groups.values()), users


def build_training_data(cfg: TrainConfig, world: TasteWorld, featurizer: TextFeaturizer,
                        extractor: FeatureExtractor, records_file=None) -> TrainingData:
    """The synthetic world's training coffees, the training reviews' halves and the file's training items,
    featurized in one pool. ``records_file``: an already-read file (default: read ``cfg.records``)."""
    R = cfg.pool_per_coffee
    coffees = world.coffees("train")
    pos = {c.id: i for i, c in enumerate(coffees)}
    recs = [world.record(c.id, k).record for c in tqdm(coffees, desc="synthetic pool", leave=False, disable=None)
            for k in range(R)]
    synthetic = [np.arange(i * R, (i + 1) * R) for i in range(len(coffees))]
    truth = torch.tensor([[c.truth[m] / 10.0 for m in TRUTH_METRICS] for c in coffees], dtype=torch.float32)
    cats = torch.from_numpy(np.stack([c.categories for c in coffees])).float()
    users = []
    for uid in range(world.config.n_users):
        if world.user(uid).split != "train":
            continue
        liked, disliked = world.feedback(uid, "train")
        if len(liked) > cfg.support and disliked:
            users.append(([synthetic[pos[c]] for c in liked], [synthetic[pos[c]] for c in disliked]))
    real: Groups = []
    rating = roast = None
    if cfg.use_real_reviews:
        from .real_data import ROAST_LEVELS, load_reviews, split_sentences
        from .text_tuning import random_views

        try:
            reviews = [r for r in load_reviews() if r.in_split("train") and r.halves()]
        except FileNotFoundError:
            reviews = []
        vrng = np.random.default_rng([cfg.seed, 17])
        for r in reviews:
            views = list(r.halves())
            for _ in range(cfg.real_views):
                views += random_views(split_sentences(r.text), vrng)
            real.append(np.arange(len(recs), len(recs) + len(views)))
            recs += [TastingRecord(notes=t) for t in views]
        ratings = np.array([np.nan if r.rating is None else r.rating for r in reviews], dtype=np.float32)
        if reviews:
            ok = ~np.isnan(ratings)
            mu, sd = (ratings[ok].mean(), ratings[ok].std() + 1e-6) if ok.any() else (0.0, 1.0)
            rating = torch.from_numpy((ratings - mu) / sd)
            roast = torch.tensor([ROAST_LEVELS.index(r.roast) if r.roast else -1 for r in reviews])
    records: Groups = []
    summary = None
    if cfg.records or records_file is not None:
        rf = records_file or read_training_records(cfg)
        labelled = rf.split("train")
        records, more_users = _record_groups(labelled, len(recs), cfg.support)
        users += more_users
        recs += [r.record for r in labelled]
        summary = {**rf.summary(), "train_items": len(records),
                   "train_users_with_feedback": len(more_users)}
    pool = make_pool(recs, extractor, featurizer, "features")
    return TrainingData(pool, synthetic, truth, cats, users, real, rating, roast, records, summary)


def prepare_text_encoder(cfg: TrainConfig, out_dir: str | Path, world: TasteWorld | None = None,
                         progress: bool = True) -> TextFeaturizer:
    """The teacher's text encoder: pretrained MiniLM, or (``cfg.text.layers > 0``) fine-tuned on real text.

    A tuning run already in ``out_dir/text_encoder`` with the same config is reused (resume)."""
    from .text_tuning import tune_text_encoder

    if cfg.text.layers <= 0:
        return TextFeaturizer()
    folder = Path(out_dir) / "text_encoder"
    meta = folder / "text_encoder.json"
    if meta.exists():
        done = json.loads(meta.read_text())
        if done.get("config") == cfg.text.to_dict() and (folder / TEXT_ENCODER_FILE).exists():
            from .checkpoint import sha256_file

            if sha256_file(folder / TEXT_ENCODER_FILE) == done.get("sha256"):
                featurizer = TextFeaturizer(weights=folder / TEXT_ENCODER_FILE)
                featurizer.tuning = done
                return featurizer
    world = world if cfg.text.synthetic_pairs else None
    featurizer, _ = tune_text_encoder(cfg.text, folder, world=world, progress=progress)
    return featurizer


def _contrastive(model: Taste2Vec, data: TrainingData, groups: Groups, n: int, cfg: TrainConfig,
                 rng: np.random.Generator, gen: torch.Generator | None, text_block: float = 0.0
                 ) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, torch.Tensor]:
    """InfoNCE between two rows of ``n`` groups; ``gen`` given: random modality dropout on both views;
    ``text_block`` > 0: plus that weight x the same loss on the text block alone."""
    gi, a, b = pair_rows(groups, n, rng)
    k1 = modality_keep(len(gi), cfg.modality_keep, gen) if gen is not None else None
    k2 = modality_keep(len(gi), cfg.modality_keep, gen) if gen is not None else None
    ba, bb = data.pool.take(a), data.pool.take(b)
    z1, z2 = model(ba, k1), model(bb, k2)
    loss = info_nce(z1, z2, cfg.temperature)
    if text_block > 0:
        ta = F.normalize(model.text_proj(ba["text_features"]), dim=-1)
        tb = F.normalize(model.text_proj(bb["text_features"]), dim=-1)
        loss = loss + text_block * info_nce(ta, tb, cfg.temperature)
    return loss, gi, z1, z2


def review_aux_loss(model: Taste2Vec, z: torch.Tensor, rating: torch.Tensor, roast: torch.Tensor) -> torch.Tensor:
    """A review's standardized rating (MSE) and roast level (cross-entropy) from its embedding; missing labels
    (NaN rating, roast -1) are left out."""
    out = model.review_head(z)
    has_rating = ~torch.isnan(rating)
    loss = F.mse_loss(out[has_rating, 0], rating[has_rating]) if has_rating.any() else z.sum() * 0
    has_roast = roast >= 0
    if has_roast.any():
        loss = loss + F.cross_entropy(out[has_roast, 1:], roast[has_roast])
    return loss


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
          data: TrainingData | None = None, until: int | None = None,
          featurizer: TextFeaturizer | None = None) -> tuple[Taste2Vec, list[dict[str, float]]]:
    """Train (or resume) a reference model; writes ``out_dir/checkpoint`` and ``out_dir/history.json``.

    Without ``data``, first prepares the text encoder (:func:`prepare_text_encoder`) and the training data.
    ``featurizer``: the text encoder ``data`` was made with (its tuned layers are saved in the checkpoint).
    ``until`` stops (with a checkpoint) after that many steps, as an interruption would; a later call with
    ``resume=True`` continues the same schedule from there.
    """
    out = Path(out_dir)
    ckpt_dir = out / "checkpoint"
    torch.manual_seed(cfg.seed)
    lexicon = SensoryLexicon.default()
    world = TasteWorld(cfg.world, lexicon)
    if data is None:
        featurizer = prepare_text_encoder(cfg, out, world, progress)
        data = build_training_data(cfg, world, featurizer, FeatureExtractor(lexicon))
    model = Taste2Vec(model_config_for(lexicon, tuned=featurizer is not None and featurizer.tuned))
    opt = portable_adamw(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    start, history = _resume_or_start(model, opt, data, ckpt_dir, resume, gen, rng)
    sched = warmup_cosine(opt, cfg.steps, start)
    model.train()
    end = cfg.steps if until is None else min(until, cfg.steps)
    bar = tqdm(range(start, end), desc="train", initial=start, total=cfg.steps,
               disable=None if progress else True)  # a bar on a TTY only
    t0 = time.time()
    for step in bar:
        loss, logs = training_loss(model, data, cfg, rng, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        logs["loss"] = loss.item()
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            history.append({"step": step, **{k: round(v, 5) for k, v in logs.items()}})
            bar.set_postfix(loss=f"{logs['loss']:.3f}", nce=f"{logs['nce']:.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step == end - 1:
            _save(model, opt, ckpt_dir, cfg, step + 1, history, gen, rng, lexicon, featurizer, data.records_file)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    if progress:
        bar.write(f"trained {end - start} steps in {time.time() - t0:.1f}s")
    return model, history


def _resume_or_start(model: Taste2Vec, opt: torch.optim.Optimizer, data: TrainingData, ckpt_dir: Path,
                     resume: bool, gen: torch.Generator, rng: np.random.Generator) -> tuple[int, list[dict]]:
    """The step to start at and the history so far: a saved run's weights, optimizer and random states, or a fresh
    model with its metric scaler fitted on the training records."""
    if resume and (ckpt_dir / "train_state.json").exists():
        loaded, _ = load_checkpoint(ckpt_dir)
        model.load_state_dict(loaded.state_dict())
        state = load_train_state(ckpt_dir, opt)
        gen.set_state(torch.tensor(state["torch_gen"], dtype=torch.uint8))
        torch.set_rng_state(torch.tensor(state["torch_global"], dtype=torch.uint8))  # dropout
        rng.bit_generator.state = state["numpy_rng"]
        return int(state["step"]), state.get("history", [])
    rows = np.concatenate([data.synthetic_rows, *data.records]) if data.records else data.synthetic_rows
    p = data.pool.take(rows)
    init_scaler(model, p["metrics"], p["metrics_mask"])
    return 0, []


def training_loss(model: Taste2Vec, data: TrainingData, cfg: TrainConfig, rng: np.random.Generator,
                  gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """One step's loss and its parts: InfoNCE on synthetic pairs plus the intensity and category heads, then, where
    there is data for them, the preference loss, real-review InfoNCE (and the rating / roast heads), and InfoNCE
    on the app's own records. The random draws happen in this order (a resumed run repeats them)."""
    loss_nce, ci, z1, z2 = _contrastive(model, data, data.synthetic, cfg.batch_coffees, cfg, rng, gen)
    z, rows = torch.cat([z1, z2]), np.concatenate([ci, ci])
    loss_int = F.mse_loss(torch.sigmoid(model.intensity_head(z)), data.truth[rows])
    loss_cat = -(data.categories[rows] * F.log_softmax(model.category_head(z), -1)).sum(-1).mean()
    loss = loss_nce + cfg.aux_weight * (loss_int * 10 + loss_cat)
    logs = {"nce": loss_nce.item(), "int": loss_int.item(), "cat": loss_cat.item()}
    if data.users and cfg.pref_weight > 0:
        sup, lik, dis = preference_batch(data, cfg, rng)
        zs = model(data.pool.take(sup)).view(len(lik), cfg.support, -1)
        loss_pref = preference_loss(zs, model(data.pool.take(lik)), model(data.pool.take(dis)))
        loss = loss + cfg.pref_weight * loss_pref
        logs["pref"] = loss_pref.item()
    if len(data.real) >= 2 and cfg.real_weight > 0:
        loss_real, ri, za, zb = _contrastive(model, data, data.real, cfg.batch_coffees, cfg, rng, None,
                                             cfg.text_block_weight)
        loss = loss + cfg.real_weight * loss_real
        logs["real"] = loss_real.item()
        if cfg.review_aux_weight > 0 and data.review_rating is not None:
            both = np.concatenate([ri, ri])
            loss_review = review_aux_loss(model, torch.cat([za, zb]), data.review_rating[both], data.review_roast[both])
            loss = loss + cfg.review_aux_weight * loss_review
            logs["review"] = loss_review.item()
    if len(_pairable(data.records)) >= 2 and cfg.records_weight > 0:
        loss_rec = _contrastive(model, data, data.records, cfg.batch_coffees, cfg, rng, gen)[0]
        loss = loss + cfg.records_weight * loss_rec
        logs["records"] = loss_rec.item()
    return loss, logs


def preference_batch(data: TrainingData, cfg: TrainConfig, rng: np.random.Generator
                     ) -> tuple[list[int], list[int], list[int]]:
    """Pool rows for the preference loss: per sampled user, ``cfg.support`` liked items (the profile), one more
    liked item and one disliked item (a random tasting of each)."""
    us = rng.choice(len(data.users), size=min(cfg.batch_users, len(data.users)), replace=False)
    sup, lik, dis = [], [], []
    for u in us:
        liked, disliked = data.users[u]
        chosen = rng.choice(len(liked), size=cfg.support + 1, replace=False)
        sup += [liked[c][rng.integers(len(liked[c]))] for c in chosen[:-1]]
        last = liked[chosen[-1]]
        lik.append(last[rng.integers(len(last))])
        d = disliked[rng.integers(len(disliked))]
        dis.append(d[rng.integers(len(d))])
    return sup, lik, dis


def _save(model, opt, ckpt_dir, cfg, step, history, gen, rng, lexicon, featurizer=None, records=None) -> None:
    from .checkpoint import save_text_encoder, sha256_file
    from taste2vec.spec import spec_path

    extra = {"train_config": cfg.to_dict(), "step": step,
             "record_spec": {"version": default_spec().version, "sha256": sha256_file(spec_path())},
             "lexicon": {"version": lexicon.version, "dim": lexicon.dim},
             "truth_metrics": list(TRUTH_METRICS)}
    if records is not None:
        extra["records_file"] = records
    if featurizer is not None and featurizer.tuned:
        extra["text_encoder"] = save_text_encoder(ckpt_dir, featurizer)
    state = {"step": step, "history": history, "torch_gen": gen.get_state().tolist(),
             "torch_global": torch.get_rng_state().tolist(),
             "numpy_rng": rng.bit_generator.state}
    save_checkpoint(ckpt_dir, model, extra=extra, optimizer=opt, train_state=state)
