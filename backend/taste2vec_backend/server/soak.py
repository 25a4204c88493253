"""``make soak-serve``: the server under mixed load for minutes, watched for leaks, errors and drift.

    python -m taste2vec_backend.server.soak --out runs/soak-serve                  # 10 minutes, windows of 60 s
    python -m taste2vec_backend.server.soak --seconds 60 --window 15 --sample 5    # the version make test runs

It starts ``taste2vec-serve --port 0`` on 127.0.0.1 (worker processes), then ``--clients`` closed-loop clients send
a mix for ``--seconds``: single and batched ``/embed``, ``/v1/embeddings``, ``/similar`` against the catalog,
``/recommend`` with feedback, and bad bodies (broken JSON, unknown fields, out-of-range values, unknown routes),
while ``/admin/reload`` runs every ``--reload-every`` seconds. Every ``--sample`` seconds it records the resident
memory of the server and each of its worker processes (``/proc``); per ``--window`` it counts requests, 5xx
answers and the p99 latency of the good requests.

Pass (exit 0): no 5xx at all; total RSS at the end at most 10 % above its value at the end of the first window,
both read from samples where only the serving worker pool runs (the most common process count: a reload briefly
runs the old and the new pool side by side, which is not a leak); every window's p99 at most twice the first
window's. The report (``soak.json``, ``soak.md``) has every sample and window.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from taste2vec.golden import sample_records
from taste2vec.helpformat import Parser

from .loadtest import Connection, ServerProcess

MAX_SECONDS = 3600.0
RSS_GROWTH = 0.10
P99_FACTOR = 2.0


@dataclass
class Window:
    """One window of the run: requests by kind of answer and the latency of the good ones."""

    start: float
    requests: int = 0
    server_errors: int = 0
    refused: int = 0  # 4xx: the bad bodies, and any 429
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms or [0.0])
        return {"start_s": round(self.start, 1), "requests": self.requests, "5xx": self.server_errors,
                "4xx": self.refused, "p50_ms": round(float(np.percentile(lat, 50)), 3),
                "p99_ms": round(float(np.percentile(lat, 99)), 3)}


def process_rss_mb(root_pid: int) -> dict[int, float]:
    """Resident memory (MB) of ``root_pid`` and every process below it, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
        todo += children.get(pid, [])
    return out


def _requests(rng: random.Random) -> tuple[str, bytes, bool]:
    """One request of the mix: (path, body, whether it is meant to be refused)."""
    recs = [r for _, r in sample_records()]
    kind = rng.random()
    if kind < 0.35:
        return "/embed", json.dumps({"record": rng.choice(recs)}).encode(), False
    if kind < 0.50:
        return "/embed", json.dumps({"records": rng.sample(recs, rng.randint(2, 8))}).encode(), False
    if kind < 0.60:
        return "/v1/embeddings", json.dumps({"input": [r.get("notes", "") for r in rng.sample(recs, 3)]}).encode(), False
    if kind < 0.72:
        return "/similar", json.dumps({"a": rng.choice(recs), "k": 5}).encode(), False
    if kind < 0.82:
        return "/recommend", json.dumps({"liked": [rng.choice(recs)], "disliked": ["cr-00422b10ff"],
                                         "ratings": [{"item": "cr-0017e22d08", "stars": 4}], "k": 5}).encode(), False
    bad = rng.choice([b"{not json", b'{"record": {"metrics": {"acidity": 99}}}', b'{"recordz": {}}', b"[]",
                      b'{"records": [1, 2]}', b'{"input": 7}'])
    return rng.choice(["/embed", "/v1/embeddings", "/nope"]), bad, True


async def _client(host: str, port: int, seed: int, until: float, windows: list[Window], t0: float,
                  window_s: float) -> None:
    rng = random.Random(seed)
    conn = Connection(host, port)
    try:
        while time.perf_counter() < until:
            path, body, meant_bad = _requests(rng)
            start = time.perf_counter()
            status, _ = await conn.post(path, body)
            w = windows[min(int((start - t0) // window_s), len(windows) - 1)]
            w.requests += 1
            if status >= 500:
                w.server_errors += 1
            elif status >= 400:
                w.refused += 1
            elif not meant_bad:
                w.latencies_ms.append((time.perf_counter() - start) * 1e3)
    finally:
        await conn.close()


async def _reloader(host: str, port: int, until: float, every: float, windows: list[Window], t0: float,
                    window_s: float) -> None:
    conn = Connection(host, port)
    try:
        while time.perf_counter() + every < until:
            await asyncio.sleep(every)
            status, _ = await conn.post("/admin/reload", b"")
            w = windows[min(int((time.perf_counter() - t0) // window_s), len(windows) - 1)]
            w.requests += 1
            w.server_errors += status >= 500
    finally:
        await conn.close()


async def _sampler(pid: int, until: float, every: float, samples: list[dict[str, Any]], t0: float) -> None:
    while True:
        rss = process_rss_mb(pid)
        samples.append({"t_s": round(time.perf_counter() - t0, 1), "total_mb": round(sum(rss.values()), 1),
                        "processes": {str(p): round(v, 1) for p, v in sorted(rss.items())}})
        if time.perf_counter() + every > until:
            return
        await asyncio.sleep(every)


@dataclass
class SoakConfig:
    seconds: float = 600.0
    window: float = 60.0
    sample: float = 30.0
    clients: int = 4
    workers: int = 2
    reload_every: float = 20.0
    seed: int = 0


async def _run(srv: ServerProcess, cfg: SoakConfig) -> tuple[list[Window], list[dict[str, Any]]]:
    t0 = time.perf_counter()
    until = t0 + cfg.seconds
    windows = [Window(i * cfg.window) for i in range(max(1, int(np.ceil(cfg.seconds / cfg.window))))]
    samples: list[dict[str, Any]] = []
    tasks = [_client(srv.host, srv.port, cfg.seed + i, until, windows, t0, cfg.window) for i in range(cfg.clients)]
    tasks += [_reloader(srv.host, srv.port, until, cfg.reload_every, windows, t0, cfg.window),
              _sampler(srv.proc.pid, until, cfg.sample, samples, t0)]
    await asyncio.gather(*tasks)
    return windows, samples


def verdict(windows: Sequence[Window], samples: Sequence[dict[str, Any]], window_s: float) -> dict[str, Any]:
    """The pass criteria of the module docs, with the figures they were judged on."""
    errors = sum(w.server_errors for w in windows)
    counts = [len(s["processes"]) for s in samples]
    steady = [s for s, n in zip(samples, counts) if n == max(set(counts), key=counts.count)]
    first = ([s for s in steady if s["t_s"] <= window_s] or steady)[-1]["total_mb"]
    last = steady[-1]["total_mb"]
    growth = last / first - 1
    p99 = [w.summary()["p99_ms"] for w in windows if w.latencies_ms]
    worst = max(p99[1:], default=p99[0]) / p99[0] if p99 else 1.0
    return {"passed": errors == 0 and growth <= RSS_GROWTH and worst <= P99_FACTOR, "5xx": errors,
            "rss_growth": round(growth, 4), "rss_first_window_mb": first, "rss_last_window_mb": last,
            "worst_p99_vs_first": round(worst, 2),
            "criteria": {"5xx": 0, "rss_growth_max": RSS_GROWTH, "p99_factor_max": P99_FACTOR}}


def soak(cfg: SoakConfig, out: Path | None = None) -> dict[str, Any]:
    """Run the soak (module docs); the report dict (also written to ``out`` when given)."""
    if not 1 <= cfg.seconds <= MAX_SECONDS or cfg.window <= 0 or cfg.sample <= 0 or cfg.clients < 1:
        raise ValueError(f"seconds in [1, {MAX_SECONDS:g}], window, sample and clients positive")
    with ServerProcess(["--workers", str(cfg.workers), "--max-queue", "4096"]) as srv:
        windows, samples = asyncio.run(_run(srv, cfg))
        stderr = srv.stderr()
    report = {"config": asdict(cfg), "windows": [w.summary() for w in windows], "rss_samples": samples,
              "verdict": verdict(windows, samples, cfg.window), "server_tracebacks": stderr.count("Traceback")}
    report["verdict"]["passed"] &= report["server_tracebacks"] == 0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
        (out / "soak.md").write_text(table(report) + "\n")
    return report


def table(report: dict[str, Any]) -> str:
    lines = ["| window from s | requests | 5xx | 4xx | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    lines += [f"| {w['start_s']:g} | {w['requests']} | {w['5xx']} | {w['4xx']} | {w['p50_ms']} | {w['p99_ms']} |"
              for w in report["windows"]]
    lines += ["", "| t s | RSS MB (all processes) | per process MB |", "|---|---|---|"]
    lines += [f"| {s['t_s']:g} | {s['total_mb']} | {', '.join(f'{v}' for v in s['processes'].values())} |"
              for s in report["rss_samples"]]
    v = report["verdict"]
    lines += ["", f"{'PASS' if v['passed'] else 'FAIL'}: {v['5xx']} 5xx; RSS {v['rss_first_window_mb']} -> "
                  f"{v['rss_last_window_mb']} MB, at the end of the first window / of the run ({v['rss_growth']:+.1%}, "
                  f"at most +{RSS_GROWTH:.0%}); worst window p99 {v['worst_p99_vs_first']}x the first (at most "
                  f"{P99_FACTOR:g}x)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="python -m taste2vec_backend.server.soak", description="Soak the server on 127.0.0.1: mixed "
               "load, reloads, RSS of every process, 5xx and p99 per window; exit 1 when a criterion is missed.")
    d = SoakConfig()
    p.add_argument("--seconds", type=float, default=d.seconds, help="how long the load runs")
    p.add_argument("--window", type=float, default=d.window, help="seconds per window of counts and p99")
    p.add_argument("--sample", type=float, default=d.sample, help="seconds between RSS samples")
    p.add_argument("--clients", type=int, default=d.clients, help="closed-loop clients")
    p.add_argument("--workers", type=int, default=d.workers, help="the server's engine worker processes")
    p.add_argument("--reload-every", type=float, default=d.reload_every, help="seconds between /admin/reload")
    p.add_argument("--out", default="runs/soak-serve", help="folder for soak.json and soak.md")
    a = p.parse_args(argv)
    try:
        report = soak(SoakConfig(a.seconds, a.window, a.sample, a.clients, a.workers, a.reload_every), Path(a.out))
    except ValueError as e:
        print(f"soak: {e}", file=sys.stderr)
        return 2
    print(table(report))
    return 0 if report["verdict"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
