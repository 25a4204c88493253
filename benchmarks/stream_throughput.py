"""Throughput of the feedback stream (Spark local mode): events/s end to end at two micro-batch sizes.

    .venv/bin/python benchmarks/stream_throughput.py --sizes 2000 10000 --out runs/bench-stream

For each size: a fresh output and checkpoint, one file of that many events from the stream demo's simulation
(likes / dislikes / skips of catalog coffees, a third of likes followed by a rated tasting record to embed, a few
dead letters and duplicates), then the job runs it as one micro-batch (after a warm-up batch of 200 events that
pays for the JVM, the Python workers and loading the bundle). Reports the batch's own time (validation, embedding,
profile store, sinks; ``batches/<id>.json``) and events/s. Target: >= 1,000 events/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path


def events_for(sim, n: int, start_round: int = 0) -> list[dict]:
    out: list[dict] = []
    r = start_round
    while len(out) < n:
        evs, _ = sim.round_events(r, {})
        out += evs
        r += 1
    return out[:n]


def build_parser() -> argparse.ArgumentParser:
    from taste2vec.helpformat import Parser

    p = Parser(prog="stream_throughput.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000], help="events per micro-batch")
    p.add_argument("--out", default="runs/bench-stream", help="folder for the result JSON")
    p.add_argument("--master", default="local[2]", help="Spark master")
    return p


def main(argv: list[str] | None = None) -> int:
    from taste2vec import Embedder
    from taste2vec_backend.lifecycle.spark_jobs import session
    from taste2vec_backend.stream.demo import Simulation, world_catalog
    from taste2vec_backend.stream.job import StreamConfig, batch_summaries, start_stream
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    world = TasteWorld(WorldConfig(seed=16))
    with Embedder.create_default() as emb:
        catalog = world_catalog(world, emb, 150)
        version = emb.model_version
    catalog.save(out / "catalog.json")
    spark = session(args.master, "taste2vec-bench-stream")
    results = []
    try:
        for size in args.sizes:
            run = out / f"size-{size}"
            sim = Simulation(world, catalog, max(20, size // 6), 16, version)
            cfg = StreamConfig(events=str(run / "events"), out=str(run / "out"), checkpoint=str(run / "checkpoint"),
                               catalog=str(out / "catalog.json"), max_files_per_trigger=1)
            (run / "events").mkdir(parents=True)
            for i, evs in enumerate((events_for(sim, 200), events_for(sim, size, 100))):
                (run / "events" / f"{i:03d}.jsonl").write_text(
                    "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in evs), encoding="utf-8")
            t0 = time.perf_counter()
            q = start_stream(spark, cfg, available_now=True, progress=False)
            q.awaitTermination()
            if q.exception() is not None:
                raise RuntimeError(str(q.exception()))
            wall = time.perf_counter() - t0
            s = batch_summaries(cfg.out)[-1]
            res = {"events": s["events"], "batch_seconds": s["seconds"],
                   "events_per_s": round(s["events"] / s["seconds"], 1), "applied": s["applied"],
                   "dead_letters": s["dead_letters"], "duplicates": s["duplicates"], "users": s["users"],
                   "wall_s_with_warmup": round(wall, 1)}
            results.append(res)
            print(f"{size:>6} events/batch: {res['events_per_s']:8.1f} events/s ({s['seconds']:.1f} s; "
                  f"{s['applied']} applied, {s['dead_letters']} dead letters, {s['users']} users)", flush=True)
    finally:
        spark.stop()
    (out / "stream.json").write_text(json.dumps({"results": results}, indent=1))
    print(f"target >= 1000 events/s: {'met' if min(r['events_per_s'] for r in results) >= 1000 else 'MISSED'} "
          f"(min {min(r['events_per_s'] for r in results):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
