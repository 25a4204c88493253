"""``make stream-demo``: the feedback stream in a closed loop on the synthetic taste world.

Users with hidden preferences (the world's ground truth) use the app for a number of rounds. Each round every user
is shown 5 coffees of a catalog of the world's test coffees and likes or dislikes them with a probability that grows
with their true liking, sometimes writes a tasting of a coffee they liked (a record, with stars), and sometimes
skips; a few events are broken (dead letters) and a few are sent twice (duplicates). Half of the users are in the
``treatment`` variant: from the second round they are shown the stream's current picks for them; ``control`` users
are shown random coffees. The round's events land as one file, the stream job processes it (one micro-batch) and
updates every user's profile and picks; then the demo scores the picks: precision@10 against each user's true top
20 % of the catalog (random picks score 0.20 on average).

    python -m taste2vec_backend.stream.demo --out runs/stream-demo --users 60 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from taste2vec import Embedder
from taste2vec.curation import Catalog, CatalogItem
from taste2vec.helpformat import Parser

SHOWN_PER_ROUND = 5
START = datetime(2026, 11, 1, tzinfo=timezone.utc)  # round r happens on day r after this
TOP_FRACTION = 0.2


def world_catalog(world: Any, emb: Embedder, n: int) -> Catalog:
    """The first ``n`` test-split coffees of the world, each embedded from one of its tastings."""
    coffees = world.coffees("test")[:n]
    items, vectors = [], []
    for c in coffees:
        r = emb.embed(world.record(c.id, 0).record)
        items.append(CatalogItem(f"c{c.id}", f"{c.origin} {c.process} #{c.id}", "synthetic", c.origin,
                                 f"{c.roast:.1f}", None, dict(r.attributes)))
        vectors.append(r.embedding)
    return Catalog(items, np.stack(vectors).astype(np.float32), emb.model_version,
                   "synthetic world test coffees (stream demo)")


class Simulation:
    """The users, their hidden preferences and their reactions (the same for the same ``seed``)."""

    def __init__(self, world: Any, catalog: Catalog, n_users: int, seed: int, model_version: str) -> None:
        self.world, self.catalog, self.version = world, catalog, model_version
        self.rng = np.random.default_rng(seed)
        self.users = [world.user(u) for u in range(n_users)]
        self.variant = {u.id: ("treatment" if u.id % 2 else "control") for u in self.users}
        cids = [int(it.id[1:]) for it in catalog.items]
        self.utility = {u.id: np.array([world.utility(u, world.coffee(c)) for c in cids]) for u in self.users}
        k = max(1, int(round(TOP_FRACTION * len(cids))))
        self.top = {uid: {catalog.items[i].id for i in np.argsort(-util)[:k]} for uid, util in self.utility.items()}
        self.seen: dict[int, set[str]] = {u.id: set() for u in self.users}
        self.n_events = 0

    def round_events(self, r: int, picks: dict[int, list[str]]) -> tuple[list[dict], dict[str, list[int]]]:
        """One round of every user's events; and per variant, liked-or-not of each shown coffee."""
        events: list[dict] = []
        outcomes: dict[str, list[int]] = {"control": [], "treatment": []}
        ids = [it.id for it in self.catalog.items]
        for u in self.users:
            fresh = [i for i in ids if i not in self.seen[u.id]]
            if self.variant[u.id] == "treatment" and picks.get(u.id):
                shown = [i for i in picks[u.id] if i not in self.seen[u.id]][:SHOWN_PER_ROUND]
            else:
                shown = []
            rest = [i for i in fresh if i not in shown]
            shown += list(self.rng.choice(rest, size=min(SHOWN_PER_ROUND - len(shown), len(rest)), replace=False))
            util = self.utility[u.id]
            for item in shown:
                self.seen[u.id].add(item)
                x = util[ids.index(item)]
                p_like = 1 / (1 + np.exp(-1.5 * (x - np.median(util))))
                roll = self.rng.random()
                kind = "like" if roll < p_like else ("skip" if roll < p_like + 0.1 else "dislike")
                outcomes[self.variant[u.id]].append(int(kind == "like"))
                events.append(self._event(u.id, r, kind, item_id=item))
                if kind == "like" and self.rng.random() < 0.3:  # a tasting of it, with stars
                    rec = self.world.record(int(item[1:]), 1 + int(self.rng.integers(0, 50))).record.to_dict()
                    stars = int(np.clip(round(3 + 1.2 * (x - np.median(util))), 1, 5))
                    events.append(self._event(u.id, r, "tasting", record=rec, rating=stars))
        broken = [dict(e, ts="yesterday") for e in events[:: max(1, len(events) // 3)][:3]]  # dead letters
        broken.append(dict(events[0], type="like", item_id="not-in-catalog", event_id=f"bad-{r}"))
        duplicates = [events[i] for i in self.rng.choice(len(events), size=max(1, len(events) // 50))]
        events += [dict(e, event_id=f"{e['event_id']}-x") for e in broken] + duplicates
        return events, outcomes

    def _event(self, uid: int, r: int, kind: str, **fields: Any) -> dict:
        self.n_events += 1
        ts = START + timedelta(days=r, minutes=self.n_events % 1440)
        return {"event_id": f"ev-{self.n_events:07d}", "user_id": f"user-{uid}", "type": kind,
                "ts": ts.isoformat().replace("+00:00", "Z"), "model_version": self.version,
                "variant": self.variant[uid], **fields}

    def precision(self, picks: dict[int, list[str]], k: int = 10) -> float:
        """Mean over users of the share of their top-k picks inside their true top 20 % (users with picks)."""
        scores = [len(set(p[:k]) & self.top[uid]) / min(k, len(p)) for uid, p in picks.items() if p]
        return float(np.mean(scores)) if scores else float("nan")


def run(out: Path, n_users: int = 60, rounds: int = 6, n_coffees: int = 150, seed: int = 16,
        master: str = "local[2]") -> list[dict[str, Any]]:
    """The closed loop (module docs); the per-round table."""
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    from ..lifecycle.spark_jobs import session
    from .job import StreamConfig, batch_summaries, start_stream
    from .profiles import ProfileStore

    if out.exists():
        shutil.rmtree(out)
    (out / "events").mkdir(parents=True)
    world = TasteWorld(WorldConfig(seed=seed))
    with Embedder.create_default() as emb:
        catalog = world_catalog(world, emb, n_coffees)
        version = emb.model_version
    catalog.save(out / "catalog.json")
    sim = Simulation(world, catalog, n_users, seed, version)
    cfg = StreamConfig(events=str(out / "events"), out=str(out / "stream"), checkpoint=str(out / "checkpoint"),
                       catalog=str(out / "catalog.json"), k=10, experiment="stream-demo")
    store = ProfileStore(out / "stream" / "profiles", catalog=catalog)
    spark = session(master, "taste2vec-stream-demo")
    table: list[dict[str, Any]] = []
    picks: dict[int, list[str]] = {}
    try:
        for r in range(rounds):
            events, outcomes = sim.round_events(r, picks)
            path = out / "events" / f"round-{r:03d}.jsonl"
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
            tmp.rename(path)  # the file source sees whole files only
            t0 = time.perf_counter()
            query = start_stream(spark, cfg, available_now=True, progress=False)
            query.awaitTermination()
            if query.exception() is not None:
                raise RuntimeError(f"the stream failed: {query.exception()}")
            seconds = time.perf_counter() - t0
            summary = batch_summaries(cfg.out)[-1]
            picks = {}
            for u in sim.users:
                state = store.get(f"user-{u.id}")
                picks[u.id] = [p["item_id"] for p in state.picks] if state else []
            row = {"round": r, "events": summary["events"], "dead_letters": summary["dead_letters"],
                   "applied": summary["applied"], "duplicates": summary["duplicates"], "seconds": round(seconds, 1),
                   "precision_at_10": round(sim.precision(picks), 3),
                   "like_rate_control": round(float(np.mean(outcomes["control"])), 3),
                   "like_rate_treatment": round(float(np.mean(outcomes["treatment"])), 3)}
            table.append(row)
            print(f"round {r}: {row['events']} events ({row['dead_letters']} dead letters, {row['duplicates']} "
                  f"duplicates) in {seconds:.1f} s; precision@10 {row['precision_at_10']:.3f}; like rate control "
                  f"{row['like_rate_control']:.3f} / treatment {row['like_rate_treatment']:.3f}", file=sys.stderr,
                  flush=True)
    finally:
        spark.stop()
    (out / "demo.json").write_text(json.dumps({"users": n_users, "catalog": len(catalog), "rounds": table}, indent=1))
    return table


def print_table(table: Sequence[dict[str, Any]]) -> None:
    head = f"{'round':>5} {'events':>7} {'dead':>5} {'dups':>5} {'applied':>8} {'P@10':>6} " \
           f"{'like control':>13} {'like treatment':>15} {'seconds':>8}"
    print(head)
    print("-" * len(head))
    for r in table:
        print(f"{r['round']:>5} {r['events']:>7} {r['dead_letters']:>5} {r['duplicates']:>5} {r['applied']:>8} "
              f"{r['precision_at_10']:>6.3f} {r['like_rate_control']:>13.3f} {r['like_rate_treatment']:>15.3f} "
              f"{r['seconds']:>8.1f}")
    print(f"precision@10 of random picks: {TOP_FRACTION:.2f} on average (a user's true top {TOP_FRACTION:.0%}); "
          "round 0 shows random coffees to everyone, treatment users see their stream picks from round 1")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="taste2vec-stream-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/stream-demo", help="folder for events, profiles, checkpoints, the table")
    p.add_argument("--users", type=int, default=60, help="simulated app users (1..10000)")
    p.add_argument("--rounds", type=int, default=6, help="rounds of events -> stream -> picks (1..100)")
    p.add_argument("--coffees", type=int, default=150, help="catalog size (20..2000)")
    p.add_argument("--seed", type=int, default=16, help="random seed")
    p.add_argument("--master", default="local[2]", help="Spark master")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if not (1 <= args.users <= 10_000 and 1 <= args.rounds <= 100 and 20 <= args.coffees <= 2000):
        p.error("users 1..10000, rounds 1..100, coffees 20..2000")
    print_table(run(Path(args.out), args.users, args.rounds, args.coffees, args.seed, args.master))
    return 0


if __name__ == "__main__":
    sys.exit(main())
