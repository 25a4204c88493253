"""Training the reference Taste2Vec.

Objective (per step):

- **InfoNCE** between two tastings of the same coffee (different tasters, languages, contexts) against the
  other coffees of the batch; the same on two halves of one real review (weight ``real_weight``);
- **auxiliary heads** on the embedding: the coffee's true sensory intensities (MSE) and its flavour-category
  distribution (soft cross-entropy);
- **preference**: a user's profile (normalized mean of embeddings of coffees they liked) must be closer to
  a held-out liked coffee than to a disliked one (logistic ranking loss). (The seed's "x1.1 / x0.9 then MSE"
  target is a no-op after L2 normalization and is not used.)

The text encoder is frozen, so its 384-d features are computed once per text and cached; records are drawn
from a fixed pool of ``pool_per_coffee`` tastings per training coffee (the world can stream more).
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
from .model import Taste2Vec, Taste2VecConfig, TextFeaturizer, info_nce, init_scaler, preference_loss
from .synthetic import TRUTH_METRICS, TasteWorld, WorldConfig


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved with the checkpoint)."""

    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)
    pool_per_coffee: int = 6
    steps: int = 1500
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
    use_real_reviews: bool = True
    checkpoint_every: int = 500
    log_every: int = 50

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["world"] = asdict(self.world)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        w = dict(d.pop("world", {}))
        if "lang_mix" in w:
            w["lang_mix"] = tuple(w["lang_mix"])
        return cls(world=WorldConfig(**w), **d)


def model_config_for(lexicon: SensoryLexicon) -> Taste2VecConfig:
    """Model config whose input sizes and provenance follow the shipped spec and lexicon."""
    spec = default_spec()
    return Taste2VecConfig(lexicon_dim=lexicon.dim, num_metrics=spec.num_metrics, context_width=spec.context_width,
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
    feats = FeatureBatch.concat([extractor.batch(records[i:i + 512]) for i in
                                 tqdm(range(0, len(records), 512), desc=desc, leave=False)]) if records else \
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


@dataclass
class TrainingData:
    """Everything sampled from during training."""

    pool: Pool
    coffee_ids: list[int]
    truth: torch.Tensor  # [n_coffees, n_intensities] / 10
    categories: torch.Tensor  # [n_coffees, n_categories]
    users: list[tuple[list[int], list[int]]]  # per user: liked / disliked coffee positions
    real: Pool | None  # rows 2i and 2i+1 are the two halves of review i


def build_training_data(cfg: TrainConfig, world: TasteWorld, featurizer: TextFeaturizer,
                        extractor: FeatureExtractor) -> TrainingData:
    coffees = world.coffees("train")
    pos = {c.id: i for i, c in enumerate(coffees)}
    recs = [world.record(c.id, k).record for c in tqdm(coffees, desc="synthetic pool", leave=False)
            for k in range(cfg.pool_per_coffee)]
    pool = make_pool(recs, extractor, featurizer, "pool features")
    truth = torch.tensor([[c.truth[m] / 10.0 for m in TRUTH_METRICS] for c in coffees], dtype=torch.float32)
    cats = torch.from_numpy(np.stack([c.categories for c in coffees])).float()
    users = []
    for uid in range(world.config.n_users):
        if world.user(uid).split != "train":
            continue
        liked, disliked = world.feedback(uid, "train")
        if len(liked) > cfg.support and disliked:
            users.append(([pos[c] for c in liked], [pos[c] for c in disliked]))
    real = None
    if cfg.use_real_reviews:
        from .real_data import load_reviews

        try:
            halves = [h for r in load_reviews() if r.split == "train" and (h := r.halves())]
        except FileNotFoundError:
            halves = []
        if halves:
            recs = [TastingRecord(notes=t) for pair in halves for t in pair]
            real = make_pool(recs, extractor, featurizer, "review features")
    return TrainingData(pool, [c.id for c in coffees], truth, cats, users, real)


def train(cfg: TrainConfig, out_dir: str | Path, resume: bool = True, progress: bool = True,
          data: TrainingData | None = None, until: int | None = None) -> tuple[Taste2Vec, list[dict[str, float]]]:
    """Train (or resume) a reference model; writes ``out_dir/checkpoint`` and ``out_dir/history.json``.

    ``until`` stops (with a checkpoint) after that many steps, as an interruption would; a later call with
    ``resume=True`` continues the same schedule from there.
    """
    out = Path(out_dir)
    ckpt_dir = out / "checkpoint"
    torch.manual_seed(cfg.seed)
    lexicon = SensoryLexicon.default()
    extractor = FeatureExtractor(lexicon)
    world = TasteWorld(cfg.world, lexicon)
    if data is None:
        data = build_training_data(cfg, world, TextFeaturizer(), extractor)
    model = Taste2Vec(model_config_for(lexicon))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    start, history = 0, []
    if resume and (ckpt_dir / "train_state.json").exists():
        loaded, _ = load_checkpoint(ckpt_dir)
        model.load_state_dict(loaded.state_dict())
        state = load_train_state(ckpt_dir, opt)
        start = int(state["step"])
        history = state.get("history", [])
        gen.set_state(torch.tensor(state["torch_gen"], dtype=torch.uint8))
        torch.set_rng_state(torch.tensor(state["torch_global"], dtype=torch.uint8))  # dropout
        rng.bit_generator.state = state["numpy_rng"]
    else:
        p = data.pool.all()
        init_scaler(model, p["metrics"], p["metrics_mask"])
    sched = warmup_cosine(opt, cfg.steps, start)
    R = cfg.pool_per_coffee
    n_coffees = len(data.coffee_ids)
    model.train()
    end = cfg.steps if until is None else min(until, cfg.steps)
    bar = tqdm(range(start, end), desc="train", initial=start, total=cfg.steps, disable=not progress)
    t0 = time.time()
    for step in bar:
        ci = rng.choice(n_coffees, size=min(cfg.batch_coffees, n_coffees), replace=False)
        r = np.stack([rng.choice(R, size=2, replace=False) for _ in ci])
        b1, b2 = data.pool.take(ci * R + r[:, 0]), data.pool.take(ci * R + r[:, 1])
        z1 = model(b1, modality_keep(len(ci), cfg.modality_keep, gen))
        z2 = model(b2, modality_keep(len(ci), cfg.modality_keep, gen))
        loss_nce = info_nce(z1, z2, cfg.temperature)
        z = torch.cat([z1, z2])
        truth = data.truth[np.concatenate([ci, ci])]
        loss_int = F.mse_loss(torch.sigmoid(model.intensity_head(z)), truth)
        cat_t = data.categories[np.concatenate([ci, ci])]
        loss_cat = -(cat_t * F.log_softmax(model.category_head(z), -1)).sum(-1).mean()
        loss = loss_nce + cfg.aux_weight * (loss_int * 10 + loss_cat)
        logs = {"nce": loss_nce.item(), "int": loss_int.item(), "cat": loss_cat.item()}
        if data.users and cfg.pref_weight > 0:
            us = rng.choice(len(data.users), size=min(cfg.batch_users, len(data.users)), replace=False)
            sup, lik, dis = [], [], []
            for u in us:
                liked, disliked = data.users[u]
                chosen = rng.choice(liked, size=cfg.support + 1, replace=False)
                sup += [c * R + rng.integers(R) for c in chosen[:-1]]
                lik.append(chosen[-1] * R + rng.integers(R))
                dis.append(rng.choice(disliked) * R + rng.integers(R))
            zs = model(data.pool.take(sup)).view(len(us), cfg.support, -1)
            loss_pref = preference_loss(zs, model(data.pool.take(lik)), model(data.pool.take(dis)))
            loss = loss + cfg.pref_weight * loss_pref
            logs["pref"] = loss_pref.item()
        if data.real is not None and cfg.real_weight > 0:
            n_real = len(data.real) // 2
            ri = rng.choice(n_real, size=min(cfg.batch_coffees, n_real), replace=False)
            za, zb = model(data.real.take(2 * ri)), model(data.real.take(2 * ri + 1))
            loss_real = info_nce(za, zb, cfg.temperature)
            loss = loss + cfg.real_weight * loss_real
            logs["real"] = loss_real.item()
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
            _save(model, opt, ckpt_dir, cfg, step + 1, history, gen, rng, lexicon)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    if progress:
        bar.write(f"trained {end - start} steps in {time.time() - t0:.1f}s")
    return model, history


def _save(model, opt, ckpt_dir, cfg, step, history, gen, rng, lexicon) -> None:
    from .checkpoint import sha256_file
    from taste2vec.spec import spec_path

    extra = {"train_config": cfg.to_dict(), "step": step,
             "record_spec": {"version": default_spec().version, "sha256": sha256_file(spec_path())},
             "lexicon": {"version": lexicon.version, "dim": lexicon.dim},
             "truth_metrics": list(TRUTH_METRICS)}
    state = {"step": step, "history": history, "torch_gen": gen.get_state().tolist(),
             "torch_global": torch.get_rng_state().tolist(),
             "numpy_rng": rng.bit_generator.state}
    save_checkpoint(ckpt_dir, model, extra=extra, optimizer=opt, train_state=state)
