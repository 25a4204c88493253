"""The server against another revision's server, in one sitting: records/s and latency, pair by pair.

    make bench-serve-ab                                           # against c6fb7c0: runs/bench-serve-ab/
    .venv/bin/python benchmarks/serve_ab.py --rev HEAD~5 --pairs 5 --seconds 8

The other revision's SDK and backend (with its shipped bundle) are taken from git (``git archive REV
sdk/taste2vec backend/taste2vec_backend``) into a temporary folder; its ``taste2vec-serve`` runs with that folder
first on PYTHONPATH, this checkout's without: the same interpreter, packages, client and cells. Each pair starts
both servers in turn (which one goes first alternates from pair to pair) and runs the same cells on each: 32-record
requests from 8 clients (throughput) and single records from one client (latency). This machine's speed drifts by
tens of percent within minutes, so only the ratios of one pair mean anything; the summary gives each pair's ratio
and their median.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from revisions import BASE_REV, extract, report  # benchmarks/revisions.py

CELLS = ((8, 32), (1, 1))  # (clients, records per request)
PACKAGES = ("sdk/taste2vec", "backend/taste2vec_backend")


def extract_rev(rev: str, dest: Path) -> dict[str, str]:
    """``rev``'s SDK and backend under ``dest``; the environment that makes a server run them (see
    :func:`revisions.extract`)."""
    extract(rev, PACKAGES, dest)
    return {"PYTHONPATH": f"{dest / 'sdk'}:{dest / 'backend'}"}


def run_side(env: dict[str, str] | None, workers: int, seconds: float) -> dict[str, dict[str, float]]:
    """One server (``env``: the other revision's, None: this checkout's) through every cell."""
    from taste2vec_backend.server.loadtest import ServerProcess, run_scenario

    out = {}
    with ServerProcess([f"--workers={workers}"], env=env) as srv:
        for clients, size in CELLS:
            r = asyncio.run(run_scenario(srv.host, srv.port, "batching", clients, size, seconds, 200_000))
            out[f"{clients}x{size}"] = {"records_per_s": r.records_per_s, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                                        "errors": sum((r.errors or {}).values())}
    return out


def summarize(pairs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per cell: each pair's new / old records/s ratio and p50s, and the medians."""
    out = {}
    for cell in pairs[0]["old"]:
        ratios = [round(p["new"][cell]["records_per_s"] / p["old"][cell]["records_per_s"], 3) for p in pairs]
        out[cell] = {"ratios": ratios, "median_ratio": round(statistics.median(ratios), 3),
                     "old_p50_ms": [p["old"][cell]["p50_ms"] for p in pairs],
                     "new_p50_ms": [p["new"][cell]["p50_ms"] for p in pairs]}
    return out


def run(rev: str, n_pairs: int, seconds: float, workers: int) -> dict[str, Any]:
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = extract_rev(rev, Path(tmp))
        for i in range(n_pairs):
            sides = [("old", env), ("new", None)]
            pair = {side: run_side(e, workers, seconds) for side, e in (sides if i % 2 == 0 else sides[::-1])}
            pairs.append(pair)
            ratios = summarize([pair])
            print(f"pair {i + 1}: " + ", ".join(f"{c} {s['ratios'][0]:.2f}x" for c, s in ratios.items()), file=sys.stderr)
    return {"format": "taste2vec.bench-serve-ab/1", "rev": rev, "workers": workers, "seconds_per_cell": seconds,
            "pairs": pairs, "summary": summarize(pairs)}


def table(res: dict[str, Any]) -> str:
    rows = [f"taste2vec-serve, {res['rev']} (old) vs this checkout (new), {len(res['pairs'])} pairs in one sitting, "
            f"{res['workers']} workers, {res['seconds_per_cell']:g} s a cell", "",
            "| pair | cell (clients x records) | old records/s | new records/s | ratio | old / new p50 ms |",
            "|---|---|---|---|---|---|"]
    for i, p in enumerate(res["pairs"], 1):
        for cell, o in p["old"].items():
            n = p["new"][cell]
            rows.append(f"| {i} | {cell} | {o['records_per_s']:,.0f} | {n['records_per_s']:,.0f} | "
                        f"{n['records_per_s'] / o['records_per_s']:.2f}x | {o['p50_ms']:.2f} / {n['p50_ms']:.2f} |")
    rows.append("")
    for cell, s in res["summary"].items():
        rows.append(f"{cell}: median ratio {s['median_ratio']:.2f}x (range {min(s['ratios']):.2f}-"
                    f"{max(s['ratios']):.2f}x); p50 median old {statistics.median(s['old_p50_ms']):.2f} ms, new "
                    f"{statistics.median(s['new_p50_ms']):.2f} ms")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    from taste2vec.helpformat import Parser

    p = Parser(description="This checkout's server against another revision's, pair by pair in one sitting.")
    p.add_argument("--rev", default=BASE_REV, help="the other revision")
    p.add_argument("--pairs", type=int, default=3, help="server pairs (each runs every cell on both)")
    p.add_argument("--seconds", type=float, default=8.0, help="per cell and side")
    p.add_argument("--workers", type=int, default=2, help="engine worker processes of each server")
    p.add_argument("--out", help="folder for ab.json and ab.md")
    a = p.parse_args(argv)
    if not 1 <= a.pairs <= 20 or not 0.5 <= a.seconds <= 60 or not 1 <= a.workers <= 64:
        p.error("pairs in 1..20, seconds in 0.5..60, workers in 1..64")
    res = run(a.rev, a.pairs, a.seconds, a.workers)
    report(a.out, res, table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
