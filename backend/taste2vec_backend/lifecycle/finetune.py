"""Feedback learning: fine-tune the reference model (the teacher) on logged preferences, then re-export.

Input: the feedback event log (``taste2vec.feedback-event/1`` JSON lines; the log *is* the replay buffer: the job
reads the newest ``max_events``) and the tasting records of the catalog items the events name
(``{"item_id", "record"}`` JSON lines, several records per item). Per user, liked items (``like`` or a rating
>= 4) and disliked items (``dislike`` or a rating <= 2) — the same pairs ``spark_jobs.preference_pairs`` builds
at scale.

Loss, per step, for a batch of users:

- **preference** (the reference model's ``preference_loss``): a user's profile is the normalized mean embedding of
  ``support`` liked items; a further liked item must score above a disliked one (logistic ranking loss);
- **anchor**: ``1 - cos(z, z_before)`` on a batch of catalog records against the model before fine-tuning, so the
  space the deployed profiles and catalogs live in moves as little as the preferences allow.

Users are split (hash of the id) into training and held-out; the report gives the held-out users' preference AUC
before and after, the anchor drift, and the losses. The result is a normal checkpoint (safetensors +
config.json with ``finetuned_from``), which the toolkit exports like any other::

    taste2vec-convert export --checkpoint runs/finetune/checkpoint --out runs/finetune/export --version 1.4.3
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from taste2vec.features import FeatureExtractor
from taste2vec.lexicon import SensoryLexicon
from taste2vec.records import TastingRecord
from taste2vec_reference.checkpoint import load_checkpoint, save_checkpoint
from taste2vec_reference.determinism import portable_adamw
from taste2vec_reference.evaluate import preference_auc
from taste2vec_reference.model import TextFeaturizer, preference_loss
from taste2vec_reference.train import Pool, make_pool


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 300
    lr: float = 3e-4
    batch_users: int = 32
    support: int = 4
    temperature: float = 0.1
    anchor_weight: float = 1.0
    anchor_batch: int = 128
    heldout_share: float = 0.2
    max_events: int = 1_000_000
    seed: int = 0


def user_preferences(events: Iterable[Mapping[str, Any]]) -> dict[str, tuple[list[str], list[str]]]:
    """Per user: (liked item ids, disliked item ids), first occurrence order, a later event overriding."""
    verdict: dict[str, dict[str, bool]] = {}
    for e in events:
        item, t = e.get("item_id"), e.get("type")
        if item is None:
            continue
        if t == "like" or (t == "rating" and float(e["value"]) >= 4):
            verdict.setdefault(e["user_id"], {})[item] = True
        elif t == "dislike" or (t == "rating" and float(e["value"]) <= 2):
            verdict.setdefault(e["user_id"], {})[item] = False
    return {u: ([i for i, v in d.items() if v], [i for i, v in d.items() if not v]) for u, d in verdict.items()}


def heldout(user_id: str, share: float) -> bool:
    """Deterministic user split: held out when the id's hash falls in the first ``share`` of the range."""
    h = int.from_bytes(hashlib.sha256(f"finetune:{user_id}".encode()).digest()[:8], "big")
    return h / 2 ** 64 < share


def _item_embeddings(model, pool: Pool, per_item: int) -> np.ndarray:
    with torch.no_grad():
        z = model(pool.all()).numpy()
    m = z.reshape(-1, per_item, z.shape[-1]).mean(1)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def finetune(checkpoint: str | Path, events: Sequence[Mapping[str, Any]], item_records: Mapping[str, list[dict]],
             out_dir: str | Path, cfg: FinetuneConfig = FinetuneConfig(), featurizer: TextFeaturizer | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Fine-tune ``checkpoint`` on the feedback ``events`` (module docs); returns the report, writes
    ``out_dir/checkpoint`` and ``out_dir/finetune_report.json``."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model, ck = load_checkpoint(checkpoint)
    before = copy.deepcopy(model).eval()
    events = list(events)[-cfg.max_events:]
    rated = {e.get("item_id") for e in events}
    items = sorted(i for i in item_records if i in rated)  # only what the feedback talks about
    if not items:
        raise ValueError("no item records")
    per_item = min(len(item_records[i]) for i in items)
    if per_item < 1:
        raise ValueError("every item needs at least one record")
    index = {item: k for k, item in enumerate(items)}
    records = [TastingRecord.from_dict(item_records[i][j]) for i in items for j in range(per_item)]
    pool = make_pool(records, FeatureExtractor(SensoryLexicon.default()), featurizer or TextFeaturizer(), "items")
    prefs = user_preferences(events)
    train_u, test_u = [], []
    for u, (liked, disliked) in sorted(prefs.items()):
        li, di = [index[i] for i in liked if i in index], [index[i] for i in disliked if i in index]
        if len(li) > cfg.support and di:
            (test_u if heldout(u, cfg.heldout_share) else train_u).append((li, di))
    if not train_u:
        raise ValueError(f"no user has more than {cfg.support} liked and one disliked known item")
    with torch.no_grad():
        z_before = before(pool.all())
    auc_before = preference_auc(_item_embeddings(before, pool, per_item), test_u, cfg.support)["auc"]
    opt = portable_adamw(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    model.train()
    history = []
    n_rec = len(records)
    for step in range(cfg.steps):
        batch = [train_u[rng.randrange(len(train_u))] for _ in range(min(cfg.batch_users, len(train_u)))]
        sup, lik, dis = [], [], []
        for liked, disliked in batch:
            chosen = rng.sample(liked, cfg.support + 1)
            sup += [c * per_item + rng.randrange(per_item) for c in chosen[:-1]]
            lik.append(chosen[-1] * per_item + rng.randrange(per_item))
            dis.append(rng.choice(disliked) * per_item + rng.randrange(per_item))
        zs = model(pool.take(sup)).view(len(batch), cfg.support, -1)
        loss_pref = preference_loss(zs, model(pool.take(lik)), model(pool.take(dis)), cfg.temperature)
        idx = [rng.randrange(n_rec) for _ in range(min(cfg.anchor_batch, n_rec))]
        loss_anchor = (1 - F.cosine_similarity(model(pool.take(idx)), z_before[idx], dim=-1)).mean()
        loss = loss_pref + cfg.anchor_weight * loss_anchor
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 25 == 0 or step == cfg.steps - 1:
            history.append({"step": step, "pref": round(loss_pref.item(), 5), "anchor": round(loss_anchor.item(), 6)})
            if progress:
                print(f"finetune step {step}: preference {loss_pref.item():.4f} anchor {loss_anchor.item():.5f}",
                      flush=True)
    model.eval()
    with torch.no_grad():
        drift = float((1 - F.cosine_similarity(model(pool.all()), z_before, dim=-1)).mean())
    auc_after = preference_auc(_item_embeddings(model, pool, per_item), test_u, cfg.support)["auc"]
    out = Path(out_dir)
    report = {"finetuned_from": ck.get("model_sha256"), "config": asdict(cfg), "events": len(events),
              "items": len(items), "records_per_item": per_item, "train_users": len(train_u),
              "heldout_users": len(test_u), "heldout_auc_before": auc_before, "heldout_auc_after": auc_after,
              "mean_cosine_drift": drift, "history": history}
    # keep the source's provenance (training config, world, lexicon ...) so the toolkit exports it like the original
    carried = {k: v for k, v in ck.items() if k not in ("format", "model", "scaler", "model_sha256")}
    save_checkpoint(out / "checkpoint", model, extra={**carried, "finetuned_from": ck.get("model_sha256"),
                                                      "finetune": {k: v for k, v in report.items() if k != "history"}})
    (out / "finetune_report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def world_feedback(world: Any, users: Sequence[int], coffees: Sequence[int], per_user: int = 24,
                   records_per_item: int = 3, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, list[dict]]]:
    """Synthetic app feedback: each user rates ``per_user`` of ``coffees`` (like the top third of their true
    utility plus noise, dislike the bottom third); and the items' records. For demos and tests."""
    rng = np.random.default_rng(seed)
    events = []
    for uid in users:
        user = world.user(uid)
        chosen = rng.choice(coffees, size=min(per_user, len(coffees)), replace=False)
        noisy = np.array([world.utility(user, world.coffee(int(c))) for c in chosen]) + rng.normal(0, 0.15, len(chosen))
        order = [int(chosen[i]) for i in np.argsort(-noisy)]
        third = len(order) // 3
        for c in order[:third]:
            events.append({"user_id": f"u{uid}", "item_id": f"c{c}", "type": "like"})
        for c in order[-third:]:
            events.append({"user_id": f"u{uid}", "item_id": f"c{c}", "type": "dislike"})
    items = {f"c{c}": [world.record(int(c), 200 + j).record.to_dict() for j in range(records_per_item)]
             for c in coffees}
    return events, items
