"""Turn LiteRT ``benchmark_model`` output (run on a phone over adb) into taste2vec-bench's JSON fields.

    python benchmarks/device/parse_benchmark_model.py embed_32.txt --bucket 32 [--budget-ms 50] > embed_32.json

``benchmark_model`` reports init time, first inference, warm-up and steady-state mean / std / min / max (and,
in recent builds, a median) but no p90 / p99: those fields are null here, so device, emulator and host
results line up field by field and a missing number never masquerades as a measured one. Stage is
``invoke`` (model only: the native tool does not run the Python preprocessing).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

try:  # the repository's help style when the SDK is installed; the script also runs on its own
    from taste2vec.helpformat import HelpFormatter
except ImportError:  # pragma: no cover
    HelpFormatter = argparse.ArgumentDefaultsHelpFormatter

_STATS = re.compile(r"count=(\d+).*?first=([\d.]+).*?min=([\d.]+).*?max=([\d.]+).*?avg=([\d.]+).*?std=([\d.]+)"
                    r"(?:.*?median=([\d.]+))?")
_TIMINGS = re.compile(r"Init: ([\d.]+), First inference: ([\d.]+), Warmup \(avg\): ([\d.]+), Inference \(avg\): ([\d.]+)")
_PEAK = re.compile(r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): "
                   r"init=([\d.]+) overall=([\d.]+)")
_THREADS = re.compile(r"(?:Num threads|#threads used for CPU inference): \[(\d+)\]")


def parse(text: str, bucket: int | None = None) -> dict[str, Any]:
    """Fields of one benchmark_model log; raises ValueError when it holds no steady-state statistics."""
    stats = _STATS.findall(text)
    timings = _TIMINGS.search(text)
    if not stats or not timings:
        raise ValueError("no 'count=... avg=... std=...' line and 'Inference timings in us' line found: "
                         "is this benchmark_model output?")
    count, _first, mn, mx, avg, std, median = stats[-1]  # the last block is the steady state
    init_us, first_us, _warm, _inf = (float(x) for x in timings.groups())
    peak = _PEAK.search(text)
    threads = _THREADS.search(text)
    ms = 1e-3
    return {"model_version": None, "quantization": None, "runtime": "benchmark_model (LiteRT native)",
            "machine": "android", "num_threads": int(threads.group(1)) if threads else None, "stage": "invoke",
            "record": None, "bucket": bucket, "load_ms": init_us * ms, "first_ms": first_us * ms, "runs": int(count),
            "latency_ms": {"mean": float(avg) * ms, "std": float(std) * ms, "min": float(mn) * ms,
                           "max": float(mx) * ms, "p50": float(median) * ms if median else None,
                           "p90": None, "p99": None},
            "peak_rss_mb": float(peak.group(2)) if peak else None}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="parse_benchmark_model.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=HelpFormatter)
    ap.add_argument("log", help="benchmark_model output ('-' = stdin)")
    ap.add_argument("--bucket", type=int, help="token bucket the run used (the signature embed_<bucket>)")
    ap.add_argument("--model-version", help="model id to record in the result (e.g. taste2vec-edge-1.8.0)")
    ap.add_argument("--budget-ms", type=float, help="check the max (no p99 on device) against this; exit 1 if over")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    text = sys.stdin.read() if a.log == "-" else open(a.log, encoding="utf-8", errors="replace").read()
    try:
        r = parse(text, a.bucket)
    except ValueError as e:
        print(f"parse_benchmark_model: {e}", file=sys.stderr)
        return 2
    r["model_version"] = a.model_version
    if a.budget_ms is not None:
        worst = r["latency_ms"]["max"]
        r["budget"] = {"budget_ms": a.budget_ms, "percentile": 100.0, "value_ms": worst, "passed": worst <= a.budget_ms}
    print(json.dumps(r, indent=1))
    return 0 if r.get("budget", {}).get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
