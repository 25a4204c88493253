"""Does the on-device ``TasteProfile`` learn? Simulated users of the synthetic world rate coffees one by one.

Setup (all from fixed seeds): a catalog of held-out (test-split) coffees, each embedded by the SDK ``Embedder``
as the mean of three synthetic tastings; held-out users whose true liking of a coffee is
``TasteWorld.utility``. Each user rates catalog coffees in a random order (1..5 stars from their standardized
utility plus noise). After n events the profile ranks the coffees the user has not rated; we report

- AUC: probability that a truly preferred coffee (top third of the user's true utility among unrated coffees)
  ranks above a non-preferred one (chance = 0.5);
- precision@10: share of the top-10 ranked unrated coffees that are truly preferred (chance = 1/3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from taste2vec.embedder import Embedder
from taste2vec.profile import TasteProfile

from .evaluate import auc
from .synthetic import TasteWorld


@dataclass(frozen=True)
class ProfileEvalConfig:
    users: int = 200
    catalog: int = 120
    checkpoints: tuple[int, ...] = (0, 5, 10, 20, 40)
    tastings_per_coffee: int = 3
    rating_noise: float = 0.5
    seed: int = 0


def catalog_embeddings(world: TasteWorld, embedder: Embedder, coffee_ids: Sequence[int], k: int) -> np.ndarray:
    """Unit mean embedding of ``k`` synthetic tastings per coffee."""
    out = []
    for cid in coffee_ids:
        v = np.mean([embedder.embed(world.record(cid, j).record).embedding for j in range(k)], axis=0)
        out.append(v / np.linalg.norm(v))
    return np.stack(out).astype(np.float32)


def stars(z: float) -> float:
    """A 1..5 star rating from a standardized utility."""
    return float(np.clip(np.round(3.0 + 1.2 * z), 1, 5))


def evaluate_profiles(world: TasteWorld, embedder: Embedder, cfg: ProfileEvalConfig = ProfileEvalConfig()
                      ) -> dict[str, object]:
    """Mean AUC and precision@10 (with 95% intervals over users) after each number of feedback events."""
    coffees = [c.id for c in world.coffees("test")][:cfg.catalog]
    emb = catalog_embeddings(world, embedder, coffees, cfg.tastings_per_coffee)
    users = [u for u in range(world.config.n_users) if world.user(u).split == "test"]
    users = (users + [u for u in range(world.config.n_users) if world.user(u).split != "test"])[:cfg.users]
    n_max = max(cfg.checkpoints)
    aucs = {n: [] for n in cfg.checkpoints}
    precs = {n: [] for n in cfg.checkpoints}
    for uid in users:
        user = world.user(uid)
        util = np.array([world.utility(user, world.coffee(c)) for c in coffees])
        z = (util - util.mean()) / (util.std() + 1e-9)
        rng = np.random.default_rng([cfg.seed, uid])
        order = rng.permutation(len(coffees))
        rated, held = order[:n_max], order[n_max:]
        truth = util[held] >= np.quantile(util[held], 2 / 3)
        profile = TasteProfile(dim=emb.shape[1])
        for n_done in range(n_max + 1):
            if n_done in aucs:
                s = profile.score(emb[held]).astype(np.float64)
                aucs[n_done].append(auc(s[truth], s[~truth]))
                top = np.argsort(-s, kind="stable")[:10]
                precs[n_done].append(float(truth[top].mean()) if not profile.is_empty else float(truth.mean()))
            if n_done < n_max:
                i = rated[n_done]
                profile.rate(emb[i], stars(z[i] + rng.normal(0, cfg.rating_noise)))
    res = {"users": len(users), "catalog": len(coffees), "chance_precision@10": 1 / 3, "after": {}}
    for n in cfg.checkpoints:
        a, p = np.array(aucs[n]), np.array(precs[n])
        res["after"][n] = {"auc": float(a.mean()), "auc_ci95": float(1.96 * a.std(ddof=1) / np.sqrt(len(a))),
                           "precision@10": float(p.mean())}
    return res
