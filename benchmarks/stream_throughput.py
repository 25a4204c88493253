"""Throughput of the feedback stream (Spark local mode): events/s end to end at two micro-batch sizes.

    .venv/bin/python benchmarks/stream_throughput.py --sizes 2000 10000 --out runs/bench-stream

For each size: a fresh output and checkpoint, files of that many events from the stream demo's simulation
(likes / dislikes / skips of catalog coffees, a third of likes followed by a rated tasting record to embed, a few
dead letters and duplicates), one micro-batch per file: warm-up batches of 200 events (the JVM, the Python workers,
loading the bundle), then ``--batches`` measured ones. A batch's time is Spark's own for the whole micro-batch
(``triggerExecution`` of the query's progress: reading the file, the batch function, the offset and commit logs);
the batch function's own time and its stages (``batches/<id>.json``) are reported beside it. events/s = events /
Spark's batch time: the median over the measured batches, with the range. Target: >= 1,000 events/s at 2,000-event
batches on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def events_for(sim, n: int, start_round: int = 0) -> tuple[list[dict], int]:
    """``n`` events of the simulation from round ``start_round`` on; and the next round."""
    out: list[dict] = []
    r = start_round
    while len(out) < n:
        evs, _ = sim.round_events(r, {})
        out += evs
        r += 1
    return out[:n], r


def build_parser() -> argparse.ArgumentParser:
    from taste2vec.helpformat import Parser

    p = Parser(prog="stream_throughput.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000], help="events per micro-batch")
    p.add_argument("--out", default="runs/bench-stream", help="folder for the result JSON")
    p.add_argument("--batches", type=int, default=3, help="measured micro-batches per size")
    p.add_argument("--warmup", type=int, default=2, help="warm-up micro-batches (200 events each) per size")
    p.add_argument("--master", default="local[2]", help="Spark master")
    return p


def main(argv: list[str] | None = None) -> int:
    from taste2vec import Embedder
    from taste2vec_backend.lifecycle.spark_jobs import session
    from taste2vec_backend.stream.demo import world_catalog
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
    try:
        results = [_run_size(spark, world, out, version, size, args) for size in args.sizes]
    finally:
        spark.stop()
    (out / "stream.json").write_text(json.dumps({"results": results}, indent=1))
    small = [r for r in results if r["size"] <= 2000]
    if small:
        worst = min(r["events_per_s"] for r in small)
        print(f"target >= 1000 events/s at batches of <= 2,000 events: {'met' if worst >= 1000 else 'MISSED'} "
              f"(median {worst:.0f})")
    return 0


def _run_size(spark, world, out: Path, version: str, size: int, args) -> dict:
    """One size: a fresh stream, warm-up and measured micro-batches; the figures of the measured ones."""
    from statistics import median

    from taste2vec.curation import Catalog
    from taste2vec_backend.stream.demo import Simulation
    from taste2vec_backend.stream.job import StreamConfig, batch_summaries, start_stream

    run = out / f"size-{size}"
    sim = Simulation(world, Catalog.load(out / "catalog.json"), max(20, size // 6), 16, version)
    cfg = StreamConfig(events=str(run / "events"), out=str(run / "out"), checkpoint=str(run / "checkpoint"),
                       catalog=str(out / "catalog.json"), max_files_per_trigger=1)
    (run / "events").mkdir(parents=True)
    next_round = 0
    for i, n in enumerate([200] * args.warmup + [size] * args.batches):
        evs, next_round = events_for(sim, n, next_round)
        (run / "events" / f"{i:03d}.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in evs), encoding="utf-8")
    q = start_stream(spark, cfg, available_now=True, progress=False)
    q.awaitTermination()
    if q.exception() is not None:
        raise RuntimeError(str(q.exception()))
    spark_s = {int(p["batchId"]): p["durationMs"]["triggerExecution"] / 1000 for p in q.recentProgress}
    measured = [s for s in batch_summaries(cfg.out) if s["batch"] >= args.warmup]
    rates = sorted(s["events"] / spark_s[s["batch"]] for s in measured)
    res = {"size": size, "events": measured[-1]["events"], "events_per_s": round(median(rates), 1),
           "events_per_s_range": [round(rates[0], 1), round(rates[-1], 1)],
           "spark_batch_s": [round(spark_s[s["batch"]], 3) for s in measured],
           "function_s": [s["seconds"] for s in measured], "stage_s": [s.get("stage_seconds") for s in measured],
           "applied": measured[-1]["applied"], "dead_letters": measured[-1]["dead_letters"],
           "users": measured[-1]["users"]}
    print(f"{size:>6} events/batch: {res['events_per_s']:8.1f} events/s median of {len(rates)} "
          f"({rates[0]:.0f}-{rates[-1]:.0f}; Spark's batch time {', '.join(f'{x:.2f}' for x in res['spark_batch_s'])}"
          f" s; {res['applied']} applied, {res['dead_letters']} dead letters, {res['users']} users)", flush=True)
    return res


if __name__ == "__main__":
    sys.exit(main())
