"""A/B experiments on the synthetic taste world: does the decision rule promote a truly better model, roll back a
truly worse one, and leave equal ones alone?

Each arm is a real model pipeline (an SDK ``Embedder`` plus a record transform). A simulated user of the world
rates ``history`` held-out coffees (stars from their true utility plus noise); a :class:`TasteProfile` learns
from the arm's vectors; ``recommend`` shows ``k`` unrated coffees; the user likes each with probability
``sigmoid(beta * z)``, ``z`` = the coffee's standardized true utility for that user. The like rate of
recommendations is the experiment metric, analysed look by look with :func:`experiment.decide`.

Arms used by ``taste2vec-lifecycle simulate-world``:

- ``shipped``: the shipped bundle on full records;
- ``notes-dropped``: the same bundle with the notes removed before embedding — a real release bug class (a
  broken text field in an app update), so a *truly worse* model whose harm is measured by the world, not assumed.

Scenarios: A/A (shipped vs shipped: equal), shipped -> notes-dropped (worse: expect rollback), notes-dropped ->
shipped (better: expect promote). The per-(user, arm) like probabilities are computed once; each repeat draws
users with replacement and Bernoulli likes, so hundreds of repeated experiments take seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from taste2vec.curation import Catalog, CatalogItem, recommend
from taste2vec.embedder import Embedder
from taste2vec.profile import TasteProfile
from taste2vec_reference.personalization import stars

from .experiment import SequentialDesign, clustered, decide

RecordTransform = Callable[[dict[str, Any]], dict[str, Any]]


def full_record(rec: dict[str, Any]) -> dict[str, Any]:
    return rec


def notes_dropped(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "notes": ""}


ARMS: dict[str, RecordTransform] = {"shipped": full_record, "notes-dropped": notes_dropped}


@dataclass(frozen=True)
class WorldSimConfig:
    users: int = 300
    catalog: int = 120
    history: int = 10
    k: int = 5
    tastings_per_coffee: int = 3
    beta: float = 1.5
    rating_noise: float = 0.5
    seed: int = 0


def like_probabilities(world: Any, embedder: Embedder, transform: RecordTransform,
                       cfg: WorldSimConfig = WorldSimConfig()) -> np.ndarray:
    """[users, k]: each simulated user's probability of liking each of the ``k`` coffees this arm recommends."""
    coffees = [c.id for c in world.coffees("test")][:cfg.catalog]
    vecs = []
    for cid in coffees:
        v = np.mean([embedder.embed(transform(world.record(cid, j).record.to_dict())).embedding
                     for j in range(cfg.tastings_per_coffee)], axis=0)
        vecs.append(v / np.linalg.norm(v))
    catalog = Catalog([CatalogItem(str(c), f"coffee {c}") for c in coffees], np.stack(vecs), embedder.model_version)
    position = {str(c): i for i, c in enumerate(coffees)}
    users = list(range(world.config.n_users))[:cfg.users]
    out = np.zeros((len(users), cfg.k))
    for row, uid in enumerate(users):
        user = world.user(uid)
        util = np.array([world.utility(user, world.coffee(c)) for c in coffees])
        z = (util - util.mean()) / (util.std() + 1e-9)
        rng = np.random.default_rng([cfg.seed, uid])
        rated = rng.permutation(len(coffees))[:cfg.history]
        profile = TasteProfile(dim=catalog.embeddings.shape[1])
        for i in rated:
            profile.rate(catalog.embeddings[i], stars(z[i] + rng.normal(0, cfg.rating_noise)), item_id=str(coffees[i]))
        picks = recommend(profile, catalog, k=cfg.k, exclude={str(coffees[i]) for i in rated})
        zs = np.array([z[position[p.item.id]] for p in picks])
        out[row] = 1.0 / (1.0 + np.exp(-cfg.beta * zs))
    return out


def run_experiments(p_control: np.ndarray, p_treatment: np.ndarray, design: SequentialDesign, repeats: int = 200,
                    seed: int = 0) -> dict[str, Any]:
    """Repeated sequential experiments from per-user like probabilities of each arm (see module docs)."""
    rng = np.random.default_rng(seed)
    k = p_control.shape[1]
    users_per_look = max(1, math.ceil(design.max_n / design.looks / k))
    d = replace(design, max_n=users_per_look * k * design.looks)  # looks fall on whole batches of users
    counts = {"promote": 0, "rollback": 0, "stop": 0, "continue": 0}
    shown_used = []
    for _ in range(repeats):
        la: list[np.ndarray] = []
        lb: list[np.ndarray] = []
        n = 0
        dec = None
        for _look in range(design.looks):
            ua = rng.integers(0, len(p_control), users_per_look)
            ub = rng.integers(0, len(p_treatment), users_per_look)
            la.append((rng.random((users_per_look, k)) < p_control[ua]).sum(1))
            lb.append((rng.random((users_per_look, k)) < p_treatment[ub]).sum(1))
            n += users_per_look * k
            ya, yb = np.concatenate(la), np.concatenate(lb)
            dec = decide(clustered(np.full(len(ya), k), ya), clustered(np.full(len(yb), k), yb), d)
            if dec.action != "continue":
                break
        counts[dec.action] += 1
        shown_used.append(n)
    return {"repeats": repeats, "like_rate_control": float(p_control.mean()),
            "like_rate_treatment": float(p_treatment.mean()),
            "true_lift": float(p_treatment.mean() / p_control.mean() - 1),
            "rates": {a: c / repeats for a, c in counts.items()}, "mean_shown_per_arm": float(np.mean(shown_used))}
