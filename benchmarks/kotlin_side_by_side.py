"""``make bench-kotlin``: the Kotlin library on LiteRT's runtime beside the Python SDK, in one run on one machine.

Both embed the same records with the same bundle: Python through ``taste2vec.bench.run_benchmark`` (its
interpreter: ``ai_edge_litert``), Kotlin through ``android_demo/jvm.sh bench`` (``taste2vec-core`` + the JNA engine
on ``libLiteRt.so``, LiteRT's C API). Per record kind and stage, each side makes the same warm-up calls, then
``--runs`` timed ones; the two sides alternate so drift hits both. Stages: ``embed`` (what an app calls:
validation, preprocessing, inference, normalization), ``invoke`` (the runtime alone on prepared inputs) and
``preprocess`` (no model), so the table shows where each side's time goes.

    make bench-kotlin                                    # typical + maximal, 1,000 runs, table + runs/bench-kotlin/
    .venv/bin/python benchmarks/kotlin_side_by_side.py --records typical korean maximal --runs 2000

The JVM compiles hot code while it runs: its first calls are interpreted. ``--warmup`` (5,000 by default, for both
sides) is long enough for the JIT to settle here; ``first_ms`` in the JSON shows the cold call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from taste2vec.bench import bench_record, run_benchmark
from taste2vec.helpformat import Parser

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("embed", "invoke", "preprocess")


def python_side(kind: str, stage: str, runs: int, warmup: int) -> dict[str, Any]:
    return run_benchmark(stage=stage, record=kind, runs=runs, warmup=warmup)


def kotlin_side(record_file: Path, stage: str, runs: int, warmup: int) -> dict[str, Any]:
    cmd = [str(ROOT / "android_demo" / "jvm.sh"), "bench", "--record", str(record_file), "--stage", stage,
           "--runs", str(runs), "--warmup", str(warmup)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"kotlin bench failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout)


def measure(kinds: list[str], stages: list[str], runs: int, warmup: int, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        rec_file = tmp / f"{kind}.json"
        rec_file.write_text(json.dumps(bench_record(kind), ensure_ascii=False), encoding="utf-8")
        for stage in stages:
            print(f"== {kind} / {stage}: Python, then Kotlin ({runs} runs after {warmup} warm-up calls each)",
                  file=sys.stderr)
            py = python_side(kind, stage, runs, warmup)
            kt = kotlin_side(rec_file, stage, runs, warmup)
            rows.append({"record": kind, "stage": stage, "python": py, "kotlin": kt})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| record | stage | Python p50 / p90 / p99 ms | Kotlin p50 / p90 / p99 ms | Kotlin p99 / Python p99 |\n"
            "|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        p, k = r["python"]["latency_ms"], r["kotlin"]["latency_ms"]
        lines.append(f"| {r['record']} | {r['stage']} | {p['p50']:.3f} / {p['p90']:.3f} / {p['p99']:.3f} | "
                     f"{k['p50']:.3f} / {k['p90']:.3f} / {k['p99']:.3f} | {k['p99'] / p['p99']:.2f} |")
    return head + "\n".join(lines) + "\n"


def verdict(rows: list[dict[str, Any]]) -> tuple[bool, str]:
    """Kotlin's embed p99 at most Python's, for every record kind."""
    embed = [r for r in rows if r["stage"] == "embed"]
    slower = [r["record"] for r in embed if r["kotlin"]["latency_ms"]["p99"] > r["python"]["latency_ms"]["p99"]]
    if slower:
        return False, f"Kotlin embed p99 above Python's for: {', '.join(slower)}"
    return True, "Kotlin embed p99 <= Python embed p99 for every record kind"


def main(argv: list[str] | None = None) -> int:
    ap = Parser(description="Kotlin (JNA + libLiteRt.so) vs the Python SDK: latency percentiles, same run.")
    ap.add_argument("--records", nargs="+", default=["typical", "maximal"], help="record kinds (taste2vec.bench)")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES, help="what to time")
    ap.add_argument("--runs", type=int, default=1000, help="timed calls per side, record and stage")
    ap.add_argument("--warmup", type=int, default=5000, help="untimed calls first, per side (the JVM's JIT)")
    ap.add_argument("--out", default="runs/bench-kotlin", help="folder for results.json and table.md")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args.records, args.stages, args.runs, args.warmup, Path(tmp))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ok, why = verdict(rows)
    text = table(rows)
    machine = rows[0]["python"]["machine"]
    (out / "results.json").write_text(json.dumps({"rows": rows, "verdict": why, "ok": ok}, indent=1) + "\n")
    (out / "table.md").write_text(f"{machine}, {args.runs} runs after {args.warmup} warm-up calls per side\n\n"
                                  + text + f"\n{why}\n")
    print(text + f"\n{machine}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
