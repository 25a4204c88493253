"""Table (Markdown + JSON) and histogram of a bench-arm run: emulated aarch64 next to the x86_64 host, for the
Python SDK and (``KOTLIN=1``) the Kotlin library on the JVM.

    python benchmarks/arm/report.py runs/bench-arm [BUDGET_MS] [PERCENTILE]
    python benchmarks/arm/report.py --delegate RESULT.json     # one line: the delegate that result ran with

Which delegate ran is the result's own ``delegate`` (``taste2vec-bench`` reads it from the loaded graph:
:func:`taste2vec.runtime.applied_delegate`), never a log line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# (file prefix, language) in table order; a language's x86_64 row follows its aarch64 row
RUNS = (("", "Python"), ("kotlin-", "Kotlin"))
MACHINES = ("arm64", "x86_64")


def _budget(lat: dict[str, float], budget: float, pct: float) -> dict[str, Any]:
    """The verdict of a result that carries none (the Kotlin tool's): its percentile against the budget."""
    key = f"p{pct:g}"
    if key not in lat:
        return {}
    return {"percentile": pct, "ms": budget, "measured_ms": lat[key], "passed": lat[key] <= budget}


def _row(r: dict[str, Any], where: str, rec: str, b: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    verdict = ("PASS" if b.get("passed") else "FAIL") if b else "-"
    return (f"| {where} | {rec} ({r['bucket']}) | {r['load_ms']:.1f} | {r['first_ms']:.2f} | {lat['p50']:.3f} | "
            f"{lat['p90']:.3f} | {lat['p99']:.3f} | {lat['mean']:.3f} ± {lat['std']:.3f} | {r['peak_rss_mb']:.0f} | "
            f"{verdict} |")


def collect(out: Path, budget: float, pct: float) -> tuple[list[str], dict[str, Any], list[Path]]:
    """The table lines, the summary's runs and the result files found in ``out``."""
    lines = ["| machine | record (bucket) | load ms | first ms | p50 ms | p90 ms | p99 ms | mean ± std ms | "
             "peak RSS MB | budget |", "|---|---|---|---|---|---|---|---|---|---|"]
    runs: dict[str, Any] = {}
    files = []
    for rec in ("typical", "maximal"):
        for prefix, lang in RUNS:
            pair = {}
            for machine in MACHINES:
                f = out / f"{prefix}{machine}-{rec}.json"
                if not f.exists():
                    continue
                r = json.loads(f.read_text())
                b = r.get("budget") or _budget(r["latency_ms"], budget, pct)
                where = f"{'aarch64 (qemu)' if machine == 'arm64' else 'x86_64 (host)'} {lang}"
                lines.append(_row(r, where, rec, b))
                files.append(f)
                pair[machine] = r
                runs[f"{prefix}{machine}-{rec}"] = {**{k: r.get(k) for k in (
                    "machine", "model_version", "quantization", "runtime", "delegate", "num_threads", "bucket",
                    "load_ms", "first_ms", "latency_ms", "peak_rss_mb")}, "budget": b}
            if len(pair) == 2:
                factor = pair["arm64"]["latency_ms"]["p50"] / pair["x86_64"]["latency_ms"]["p50"]
                runs[f"emulation_factor-{prefix}{rec}"] = round(factor, 1)
                lines.append(f"| emulation factor {lang} | {rec} | | | {factor:.0f}x | | | | | |")
    return lines, runs, files


def delegate_line(result: dict[str, Any]) -> str:
    """What a result says about its delegate, in words."""
    return {"xnnpack": "XNNPACK delegate applied",
            "none": "XNNPACK NOT applied: LiteRT's builtin kernels were measured"}.get(
        result.get("delegate"), "delegate unknown (the interpreter package does not expose its graph)")


def _delegates_line(delegates: list[str]) -> str:
    if not delegates:
        return "no aarch64 result"
    if len(delegates) > 1:
        return f"the aarch64 runs applied different delegates ({', '.join(delegates)})"
    return delegate_line({"delegate": delegates[0]})


def main() -> int:
    if sys.argv[1:2] == ["--delegate"]:
        print(delegate_line(json.loads(Path(sys.argv[2]).read_text())))
        return 0
    out = Path(sys.argv[1])
    from taste2vec.bundle import DEFAULT_LATENCY_BUDGET

    budget = float(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_LATENCY_BUDGET["ms"]
    pct = float(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_LATENCY_BUDGET["percentile"]
    lines, runs, files = collect(out, budget, pct)
    summary: dict[str, Any] = {"budget_ms": budget, "percentile": pct, "runs": runs}
    setup = json.loads((out / "setup.json").read_text()) if (out / "setup.json").exists() else {}
    arm = [json.loads(f.read_text()) for f in files if f.name.startswith("arm64-")]
    setup["delegates"] = sorted({r.get("delegate", "unknown") for r in arm})
    setup["xnnpack_applied"] = bool(arm) and setup["delegates"] == ["xnnpack"]
    summary["setup"] = setup
    table = "\n".join(lines)
    print(f"\nembed (validation + preprocessing + inference), budget p{pct:g} <= {budget:g} ms; "
          f"aarch64 emulated as {setup.get('arm_cpu', 'qemu max')}: "
          f"{_delegates_line(setup['delegates'])}\n")
    print(table)
    (out / "summary.md").write_text(table + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    try:
        from taste2vec.bench import plot

        print(plot([f for f in files if not f.name.startswith("kotlin-")], out / "latency.png"))
    except RuntimeError as e:
        print(f"(no histogram: {e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
