"""``make bench-serve``: load-test the server on loopback, batching on and off, and report records/s and latency.

    python -m taste2vec_backend.server.loadtest --out runs/bench-serve            # the full matrix
    python -m taste2vec_backend.server.loadtest --concurrency 8 --sizes 32 --seconds 5

For each mode (micro-batching on, then off) it starts ``taste2vec-serve --port 0`` as a child process on
127.0.0.1, and for each concurrency (1 / 8 / 32) and request size (1 and 32 records) runs ``concurrency``
closed-loop clients (each sends its next request when the previous answer arrived) for a bounded time and
request count, after a short warm-up. It prints records/s, requests/s, latency p50 / p90 / p99 and errors by
status, checks the service targets (``TARGETS``), writes ``serve.json`` and ``serve.png``.

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams with pre-encoded request bodies: on a
2-core machine the client shares the CPU with the server, and a full-featured client (httpx) spends more CPU per
request than the server does, so it would measure itself. Records: the SDK's 12 sample records (English, Korean,
mixed, short to truncated-long notes, with metrics and context), cycled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from taste2vec.helpformat import Parser

MAX_SECONDS = 60.0        # per scenario, hard bound
MAX_REQUESTS = 200_000    # per scenario, hard bound
MAX_CONCURRENCY = 256
# what the server must reach on a 2-core machine (make bench-serve reports each as met or not)
TARGETS = {"records_per_s_32x8": 2000.0, "single_p50_ms_c1": 5.0, "batching_gain_c32": 2.0}


class LoadTestError(RuntimeError):
    """The server did not start, or answered something that is not HTTP."""


# ---------------------------------------------------------------------- a minimal keep-alive client
class Connection:
    """One HTTP/1.1 keep-alive connection to host:port (responses must carry Content-Length, as ours do)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, headers: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{headers}\r\n").encode()
        self.writer.write(head + body)
        return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise LoadTestError(f"not an HTTP response: {lines[0][:80]!r}") from None
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


# ---------------------------------------------------------------------- scenarios
@dataclass
class ScenarioResult:
    mode: str
    concurrency: int
    records_per_request: int
    seconds: float
    requests: int
    records: int
    records_per_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)


def request_bodies(size: int, n: int = 64) -> list[bytes]:
    """``n`` pre-encoded /embed bodies of ``size`` records each, cycling the SDK's sample records."""
    from taste2vec.golden import sample_records

    recs = [r for _, r in sample_records()]
    out = []
    for i in range(n):
        batch = [recs[(i * size + j) % len(recs)] for j in range(size)]
        out.append(json.dumps({"records": batch}, ensure_ascii=False).encode())
    return out


async def run_scenario(host: str, port: int, mode: str, concurrency: int, size: int, seconds: float,
                       max_requests: int, warmup_s: float = 0.5, headers: str = "") -> ScenarioResult:
    """``concurrency`` closed-loop clients posting ``size``-record requests to /embed for ``seconds``."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency {concurrency}: allowed 1..{MAX_CONCURRENCY}")
    seconds, max_requests = min(seconds, MAX_SECONDS), min(max_requests, MAX_REQUESTS)
    bodies = request_bodies(size)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    ok_records = 0
    sent = 0
    measuring = False
    stop_at = 0.0

    async def client(k: int) -> None:
        nonlocal ok_records, sent
        conn = Connection(host, port)
        i = k
        try:
            while True:
                now = time.perf_counter()
                if measuring and (now >= stop_at or sent >= max_requests):
                    return
                if measuring:
                    sent += 1
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.post("/embed", bodies[i % len(bodies)], headers)
                except (ConnectionError, asyncio.IncompleteReadError, LoadTestError, OSError) as e:
                    status = type(e).__name__
                    await conn.close()
                dt = time.perf_counter() - t0
                i += concurrency
                if measuring:
                    if status == 200:
                        latencies.append(dt)
                        ok_records += size
                    else:
                        errors[str(status)] = errors.get(str(status), 0) + 1
                elif not warming:
                    return
        finally:
            await conn.close()

    # warm-up: the same clients, unmeasured
    warming = True
    tasks = [asyncio.create_task(client(k)) for k in range(concurrency)]
    await asyncio.sleep(warmup_s)
    warming = False
    await asyncio.gather(*tasks)
    measuring = True
    t_start = time.perf_counter()
    stop_at = t_start + seconds
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    wall = time.perf_counter() - t_start
    lat = np.array(latencies) * 1e3 if latencies else np.array([np.nan])
    n_ok = len(latencies)
    return ScenarioResult(mode, concurrency, size, round(wall, 3), n_ok, ok_records, round(ok_records / wall, 1),
                          round(n_ok / wall, 1), *(round(float(np.percentile(lat, q)), 3) for q in (50, 90, 99)),
                          errors)


# ---------------------------------------------------------------------- the server child process
class ServerProcess:
    """``taste2vec-serve --port 0`` on 127.0.0.1 as a child process (killed on exit, bounded start time)."""

    def __init__(self, args: Sequence[str] = (), start_timeout_s: float = 60.0,
                 env: dict[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "taste2vec_backend.server.cli", "--host", "127.0.0.1", "--port", "0",
               "--log-level", "warning", *args]
        self.log = tempfile.TemporaryFile("w+")  # the server's stderr (a pipe nobody reads could fill and block)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env={**os.environ, **(env or {})})
        deadline = time.monotonic() + start_timeout_s
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline()
            if line.startswith("{"):
                break
        if not line.startswith("{"):
            self.stop()
            raise LoadTestError(f"the server did not start: {self.stderr()[-2000:]}")
        self.info = json.loads(line)
        self.url = self.info["listening"]
        self.host, self.port = "127.0.0.1", int(self.url.rsplit(":", 1)[1])

    def stderr(self) -> str:
        """What the server wrote to stderr so far (all of it once stopped)."""
        if self.log.closed:
            return self._stderr
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> int:
        """Stop the server (SIGINT: a graceful shutdown; killed after 15 s); its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if not self.log.closed:
            self._stderr = self.stderr()
            self.log.close()
        return self.proc.returncode

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------- report
def check_targets(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """The service targets (:data:`TARGETS`), where the matrix measured them: value, target, met."""
    def find(mode: str, c: int, s: int) -> ScenarioResult | None:
        return next((r for r in results if (r.mode, r.concurrency, r.records_per_request) == (mode, c, s)), None)

    out: dict[str, Any] = {}
    r, want = find("batching", 8, 32), TARGETS["records_per_s_32x8"]
    if r:
        out["records_per_s_32x8"] = {"value": r.records_per_s, "target": f">= {want:g}", "met": r.records_per_s >= want}
    r, want = find("batching", 1, 1), TARGETS["single_p50_ms_c1"]
    if r:
        out["single_p50_ms_c1"] = {"value": r.p50_ms, "target": f"<= {want:g}", "met": r.p50_ms <= want}
    want = TARGETS["batching_gain_c32"]
    for s in (1, 32):
        on, off = find("batching", 32, s), find("no-batching", 32, s)
        if on and off and off.records_per_s > 0:
            gain = round(on.records_per_s / off.records_per_s, 2)
            out[f"batching_gain_c32_x{s}"] = {"value": gain, "target": f">= {want:g}", "met": gain >= want}
    return out


def table(results: Sequence[ScenarioResult]) -> str:
    head = f"{'mode':<12} {'conc':>4} {'rec/req':>7} {'records/s':>10} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} " \
           f"{'p99 ms':>8}  errors"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r.mode:<12} {r.concurrency:>4} {r.records_per_request:>7} {r.records_per_s:>10.1f} "
                    f"{r.requests_per_s:>8.1f} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.p99_ms:>8.2f}  "
                    f"{r.errors or '-'}")
    return "\n".join(rows)


def plot(results: Sequence[ScenarioResult], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, size in zip(axes, (1, 32)):
        for mode, color in (("batching", "tab:blue"), ("no-batching", "tab:gray")):
            rs = [r for r in results if r.mode == mode and r.records_per_request == size]
            if rs:
                ax.plot([r.concurrency for r in rs], [r.records_per_s for r in rs], "o-", color=color, label=mode)
                for r in rs:
                    ax.annotate(f"p99 {r.p99_ms:.1f} ms", (r.concurrency, r.records_per_s), fontsize=7,
                                textcoords="offset points", xytext=(4, -10 if mode == "no-batching" else 6))
        ax.set_xscale("log", base=2)
        conc = sorted({r.concurrency for r in results})
        ax.set_xticks(conc, [str(c) for c in conc])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("records / s")
        ax.set_title(f"/embed, {size} record{'s' if size > 1 else ''} per request")
        ax.grid(alpha=.3)
        ax.legend()
    fig.suptitle("taste2vec-serve on loopback (client and server share the machine)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def run_matrix(concurrency: Sequence[int], sizes: Sequence[int], modes: Sequence[str], seconds: float,
               max_requests: int, server_args: Sequence[str] = ()) -> list[ScenarioResult]:
    results = []
    for mode in modes:
        args = [*server_args, *(["--no-batching"] if mode == "no-batching" else [])]
        with ServerProcess(args) as srv:
            for c in concurrency:
                for s in sizes:
                    r = asyncio.run(run_scenario(srv.host, srv.port, mode, c, s, seconds, max_requests))
                    print(f"  {mode:<12} c={c:<3} {s:>2} rec/req: {r.records_per_s:8.1f} records/s, p50 "
                          f"{r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, errors {r.errors or 0}", file=sys.stderr)
                    results.append(r)
    return results


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="taste2vec-loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="client connections per scenario")
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 32], help="records per request")
    p.add_argument("--modes", nargs="+", default=["batching", "no-batching"], choices=["batching", "no-batching"],
                   help="server modes to compare (each starts its own server)")
    p.add_argument("--seconds", type=float, default=5.0, help=f"per scenario (at most {MAX_SECONDS:g})")
    p.add_argument("--max-requests", type=int, default=50_000, help="per scenario")
    p.add_argument("--out", default="runs/bench-serve", help="folder for serve.json and serve.png")
    p.add_argument("--server-arg", action="append", default=[], help="extra taste2vec-serve argument (repeatable)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if any(not 1 <= c <= MAX_CONCURRENCY for c in args.concurrency) or any(not 1 <= s <= 256 for s in args.sizes):
        p.error(f"concurrency in 1..{MAX_CONCURRENCY}, sizes in 1..256")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = run_matrix(args.concurrency, args.sizes, args.modes, args.seconds, args.max_requests, args.server_arg)
    targets = check_targets(results)
    doc = {"format": "taste2vec.bench-serve/1", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                       "python": platform.python_version()},
           "records": "the SDK's 12 sample records, cycled", "seconds_per_scenario": args.seconds,
           "results": [asdict(r) for r in results], "targets": targets, "wall_s": round(time.time() - t0, 1)}
    (out / "serve.json").write_text(json.dumps(doc, indent=1))
    print(table(results))
    for name, t in targets.items():
        print(f"{name:<24} {t['value']:>10} (target {t['target']}): {'met' if t['met'] else 'MISSED'}")
    try:
        print(f"wrote {out / 'serve.json'} and {plot(results, out / 'serve.png')}")
    except ImportError:
        print(f"wrote {out / 'serve.json'} (no PNG: matplotlib is not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
