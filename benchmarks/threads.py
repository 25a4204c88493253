"""Throughput of the SDK Embedder under threads: one interpreter per thread (what the SDK does) vs one shared
interpreter behind a lock (the alternative). Prints a Markdown table; numbers depend on the machine's cores.

    .venv/bin/python benchmarks/threads.py [--seconds 3] [--threads 1 2 4 8]
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from taste2vec import Embedder
from taste2vec.golden import sample_records
from taste2vec.helpformat import Parser


def run(embedder: Embedder, n_threads: int, seconds: float, shared_lock: threading.Lock | None) -> dict[str, float]:
    inputs = [embedder.preprocess(r) for _, r in sample_records()]
    shared = embedder._model() if shared_lock is not None else None
    lat: list[list[float]] = [[] for _ in range(n_threads)]
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(n_threads)

    def work(t: int) -> None:
        barrier.wait()
        i = t
        while time.perf_counter() < stop:
            x = inputs[i % len(inputs)]
            t0 = time.perf_counter()
            if shared is None:
                embedder.run(x)
            else:
                with shared_lock:
                    shared.run(x.tensors)
            lat[t].append((time.perf_counter() - t0) * 1e3)
            i += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    all_lat = np.concatenate([np.asarray(x) for x in lat])
    return {"per_s": len(all_lat) / wall, "p50": float(np.percentile(all_lat, 50)),
            "p99": float(np.percentile(all_lat, 99))}


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="threads.py", description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds per row")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8], help="application thread counts")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    print("| threads | per-thread interpreters: inferences/s | p50 / p99 ms | one interpreter + lock: inferences/s "
          "| p50 / p99 ms |\n|---|---|---|---|---|")
    for n in args.threads:
        with Embedder.create_default() as e:
            a = run(e, n, args.seconds, None)
        with Embedder.create_default() as e:
            b = run(e, n, args.seconds, threading.Lock())
        print(f"| {n} | {a['per_s']:,.0f} | {a['p50']:.3f} / {a['p99']:.3f} | {b['per_s']:,.0f} | "
              f"{b['p50']:.3f} / {b['p99']:.3f} |")


if __name__ == "__main__":
    main()
