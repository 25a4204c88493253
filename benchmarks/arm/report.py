"""Table (Markdown + JSON) and histogram of a bench-arm run: emulated aarch64 next to the x86_64 host.

    python benchmarks/arm/report.py runs/bench-arm [BUDGET_MS] [PERCENTILE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    out = Path(sys.argv[1])
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    pct = float(sys.argv[3]) if len(sys.argv) > 3 else 99.0
    rows, summary = [], {"budget_ms": budget, "percentile": pct, "runs": {}}
    lines = ["| machine | record (bucket) | load ms | first ms | p50 ms | p90 ms | p99 ms | mean ± std ms | "
             "peak RSS MB | budget |", "|---|---|---|---|---|---|---|---|---|---|"]
    for rec in ("typical", "maximal"):
        pair = {}
        for machine in ("arm64", "x86_64"):
            f = out / f"{machine}-{rec}.json"
            if not f.exists():
                continue
            r = json.loads(f.read_text())
            pair[machine] = r
            lat = r["latency_ms"]
            b = r.get("budget", {})
            verdict = ("PASS" if b.get("passed") else "FAIL") if b else "-"
            lines.append(f"| {r['machine']} {'(qemu)' if machine == 'arm64' else '(host)'} | {rec} ({r['bucket']}) | "
                         f"{r['load_ms']:.1f} | {r['first_ms']:.2f} | {lat['p50']:.3f} | {lat['p90']:.3f} | "
                         f"{lat['p99']:.3f} | {lat['mean']:.3f} ± {lat['std']:.3f} | {r['peak_rss_mb']:.0f} | "
                         f"{verdict} |")
            rows.append(f)
            summary["runs"][f"{machine}-{rec}"] = {k: r[k] for k in ("machine", "model_version", "quantization",
                                                                    "runtime", "num_threads", "bucket", "load_ms",
                                                                    "first_ms", "latency_ms", "peak_rss_mb")}
            summary["runs"][f"{machine}-{rec}"]["budget"] = b
        if len(pair) == 2:
            f_p50 = pair["arm64"]["latency_ms"]["p50"] / pair["x86_64"]["latency_ms"]["p50"]
            summary["runs"][f"emulation_factor-{rec}"] = round(f_p50, 1)
            lines.append(f"| emulation factor | {rec} | | | {f_p50:.0f}x | | | | | |")
    setup = json.loads((out / "setup.json").read_text()) if (out / "setup.json").exists() else {}
    logs = [f.read_text(errors="replace") for f in sorted(out.glob("arm64-*.log"))]
    setup["xnnpack_applied"] = bool(logs) and all("XNNPACK delegate" in t for t in logs)
    summary["setup"] = setup
    table = "\n".join(lines)
    print(f"\ntaste2vec-bench, embed (validation + preprocessing + inference), budget p{pct:g} <= {budget:g} ms; "
          f"aarch64 emulated as {setup.get('arm_cpu', 'qemu max')}, XNNPACK delegate "
          f"{'applied' if setup['xnnpack_applied'] else 'NOT applied (builtin kernels)'}\n")
    print(table)
    (out / "summary.md").write_text(table + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    try:
        from taste2vec.bench import plot

        print(plot(rows, out / "latency.png"))
    except RuntimeError as e:
        print(f"(no histogram: {e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
