"""``taste2vec-bench``: latency of a Taste2Vec bundle, in the spirit of LiteRT's ``benchmark_model``.

Measures, for the chosen ``--num-threads`` and record:

- ``load_ms``: bundle verification + interpreter creation (what an app pays at start-up);
- ``first_ms``: the first inference (lazy allocation, XNNPACK packing);
- then ``--warmup`` unmeasured calls and ``--runs`` measured ones: mean, std, min, max, p50 / p90 / p99 in ms;
- ``peak_rss_mb``: the process's peak resident memory after the runs;

of one of three stages: ``embed`` (validation + preprocessing + inference + normalization, what an app
calls), ``invoke`` (the interpreter alone on prepared tensors) or ``preprocess`` (no model). Prints JSON, then a
verdict against the latency budget: the bundle manifest's ``latency_budget`` (p99 50 ms for the shipped model)
unless ``--budget-ms`` / ``--percentile`` say otherwise; exits 1 when the percentile exceeds it. Needs only numpy +
LiteRT, so it runs unchanged in the emulated-ARM root and on a device's Python.

A percentile is only as good as the samples beyond it: p99 needs >= 1,000 runs (10 samples above it), p99.9
>= 10,000. With fewer the result says so in ``warnings``.

    taste2vec-bench                                       # the shipped bundle, 1,000 runs, verdict vs p99 50 ms
    taste2vec-bench --num-threads 2 --record maximal --out result.json
    taste2vec-bench plot result.json latency.png          # histogram (needs matplotlib; the host has it)
    taste2vec-bench --model candidate/ --baseline shipped/ --max-ratio 1.25   # the x86 CI gate

On a desktop CPU a record takes well under 1 ms, so the 50 ms budget cannot fail there. The CI gate on such a machine
is relative: ``--baseline`` times a reference bundle in the same process, interleaved in alternating blocks, and
``--max-ratio`` fails the run when the candidate's percentile exceeds that many times the baseline's. The absolute
budget is checked where it can fail: emulated or real ARM (``make bench-arm``).
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .bundle import DEFAULT_LATENCY_BUDGET
from .errors import Taste2VecError
from .fileio import read_json
from .helpformat import Parser
from .runtime import DELEGATES, set_verbose
from .signing import add_trust_arguments, trust_from_args

RECORDS = {
    "short": {"notes": "jasmine, bright"},
    "typical": None,  # the sample record en_washed_ethiopia (notes + 11 metrics + 1 context snapshot)
    "korean": None,  # ko_washed_ethiopia
    "maximal": None,  # long_notes_truncated: fills the longest bucket, 8 snapshots, metrics
}
_SAMPLE_OF = {"typical": "en_washed_ethiopia", "korean": "ko_washed_ethiopia", "maximal": "long_notes_truncated"}
STAGES = ("embed", "invoke", "preprocess")
TAIL_SAMPLES = 10  # samples a percentile should have beyond it to mean something
DEFAULT_RUNS = 1000
BASELINE_ROUNDS = 10  # alternating blocks per side when timing against a baseline


def bench_record(kind: str) -> dict[str, Any]:
    """A benchmark record by kind: short, typical, korean, maximal (see ``RECORDS``)."""
    from .golden import sample_records

    if kind not in RECORDS:
        raise ValueError(f"record kind {kind!r}: one of {', '.join(RECORDS)}")
    if RECORDS[kind] is not None:
        return RECORDS[kind]
    return dict(sample_records())[_SAMPLE_OF[kind]]


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux ru_maxrss is KB, macOS bytes)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def summarize_ms(samples: Sequence[float]) -> dict[str, float]:
    """mean / std / min / max / p50 / p90 / p99 of latencies in ms."""
    a = np.asarray(samples, dtype=np.float64)
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "min": float(a.min()),
            "max": float(a.max()), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _open(model: str | Path | None, num_threads: int, trusted_keys: Any, allow_unsigned: bool,
          delegate: str = "xnnpack") -> Any:
    from .bundle import default_bundle_path
    from .embedder import BaseOptions, Embedder, EmbedderOptions

    return Embedder.create_from_options(EmbedderOptions(BaseOptions(model_asset_path=model or default_bundle_path(),
                                                                    num_threads=num_threads, delegate=delegate,
                                                                    trusted_keys=tuple(trusted_keys or ()),
                                                                    allow_unsigned=allow_unsigned)))


def _stage_call(emb: Any, stage: str, rec: dict[str, Any]) -> tuple[Callable[[], object], Any]:
    inputs = emb.preprocess(rec)
    return {"embed": lambda: emb.embed(rec), "invoke": lambda: emb.run(inputs),
            "preprocess": lambda: emb.preprocess(rec)}[stage], inputs


def _check_args(stage: str, runs: int, warmup: int) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: one of {', '.join(STAGES)}")
    if runs < 2 or warmup < 0:
        raise ValueError("runs must be >= 2 and warmup >= 0")


def _result(emb: Any, inputs: Any, num_threads: int, stage: str, record: str, load_ms: float, first_ms: float,
            warmup: int, samples: list[float]) -> dict[str, Any]:
    m = emb.bundle.manifest
    return {
        "model_version": emb.model_version, "quantization": m.get("quantization", {}).get("variant"),
        "model_bytes": m["files"]["model.tflite"]["size"], "runtime": emb.runtime,
        "delegate": emb.delegate, "machine": platform.machine(), "python": platform.python_version(),
        "num_threads": num_threads,
        "stage": stage, "record": record, "bucket": inputs.bucket, "tokens": inputs.n_tokens,
        "load_ms": load_ms, "first_ms": first_ms, "warmup": warmup, "runs": len(samples),
        "latency_ms": summarize_ms(samples), "peak_rss_mb": peak_rss_mb(),
        "latency_budget": emb.bundle.latency_budget, "samples_ms": samples}


def run_benchmark(model: str | Path | None = None, num_threads: int = 1, stage: str = "embed",
                  record: str = "typical", runs: int = DEFAULT_RUNS, warmup: int = 20, trusted_keys: Any = (),
                  allow_unsigned: bool = False, delegate: str = "xnnpack") -> dict[str, Any]:
    """Load the bundle and time ``stage`` on ``record``; the result dict is what the CLI prints (its
    ``delegate`` is the one the runtime applied, read from the loaded graph)."""
    _check_args(stage, runs, warmup)
    rec = bench_record(record)
    t0 = time.perf_counter()
    emb = _open(model, num_threads, trusted_keys, allow_unsigned, delegate)
    load_ms = (time.perf_counter() - t0) * 1e3
    try:
        call, inputs = _stage_call(emb, stage, rec)
        t0 = time.perf_counter()
        call()
        first_ms = (time.perf_counter() - t0) * 1e3
        return _result(emb, inputs, num_threads, stage, record, load_ms, first_ms, warmup,
                       time_calls(call, runs, warmup))
    finally:
        emb.close()


@dataclass
class _Side:
    """One bundle under test: its embedder, timed call and samples so far."""

    emb: Any
    load_ms: float
    call: Callable[[], object] | None = None
    inputs: Any = None
    first_ms: float = 0.0
    samples: list[float] = field(default_factory=list)


def run_against_baseline(model: str | Path | None, baseline: str | Path, num_threads: int = 1,
                         stage: str = "embed", record: str = "typical", runs: int = DEFAULT_RUNS, warmup: int = 20,
                         trusted_keys: Any = (), allow_unsigned: bool = False,
                         rounds: int = BASELINE_ROUNDS, delegate: str = "xnnpack"
                         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Time ``model`` and ``baseline`` in one process, interleaved in ``rounds`` alternating blocks (so both see
    the same machine: load, clock and cache drift land on both sides); the two results."""
    _check_args(stage, runs, warmup)
    rec = bench_record(record)
    sides: list[_Side] = []
    try:
        for path in (model, baseline):
            t0 = time.perf_counter()
            emb = _open(path, num_threads, trusted_keys, allow_unsigned, delegate)
            sides.append(_Side(emb, (time.perf_counter() - t0) * 1e3))
        for side in sides:
            side.call, side.inputs = _stage_call(side.emb, stage, rec)
            t0 = time.perf_counter()
            side.call()
            side.first_ms = (time.perf_counter() - t0) * 1e3
            time_calls(side.call, 0, warmup)
        for k in range(rounds):
            for side in (sides if k % 2 == 0 else sides[::-1]):
                side.samples += time_calls(side.call, max(1, runs // rounds), 0)
        cand, base = (_result(x.emb, x.inputs, num_threads, stage, record, x.load_ms, x.first_ms, warmup, x.samples)
                      for x in sides)
        return cand, base
    finally:
        for side in sides:
            side.emb.close()


def check_relative(result: dict[str, Any], baseline: dict[str, Any], max_ratio: float,
                   percentile: float | None = None) -> dict[str, Any]:
    """Add ``budget`` to ``result``: its percentile against ``max_ratio`` times the baseline's, measured in the same
    run (the CI gate for machines where the absolute budget cannot fail). ``percentile`` defaults to the
    manifest's."""
    percentile = float((result.get("latency_budget") or DEFAULT_LATENCY_BUDGET)["percentile"]
                       if percentile is None else percentile)
    value, base = (float(np.percentile(r["samples_ms"], percentile)) for r in (result, baseline))
    result["budget"] = {"budget_ms": max_ratio * base, "percentile": percentile, "value_ms": value,
                        "passed": value <= max_ratio * base, "source": f"{max_ratio:g} x baseline",
                        "baseline": baseline["model_version"], "baseline_ms": base, "ratio": value / base}
    result["baseline"] = {k: v for k, v in baseline.items() if k != "samples_ms"}
    return result["budget"]


def runs_needed(percentile: float) -> int:
    """Runs for ``percentile`` to rest on :data:`TAIL_SAMPLES` samples beyond it (p99: 1,000; p50: 20)."""
    return int(np.ceil(TAIL_SAMPLES / max(1e-9, min(percentile, 100 - percentile) / 100) - 1e-9))


def check_budget(result: dict[str, Any], budget_ms: float | None = None,
                 percentile: float | None = None) -> dict[str, Any]:
    """Add ``budget`` to ``result``: the percentile's value and whether it is within ``budget_ms``. Either one left
    out comes from the bundle's manifest (``result["latency_budget"]``); ``source`` says which."""
    manifest = result.get("latency_budget") or DEFAULT_LATENCY_BUDGET
    source = "manifest" if budget_ms is None and percentile is None else "command line"
    budget_ms = float(manifest["ms"] if budget_ms is None else budget_ms)
    percentile = float(manifest["percentile"] if percentile is None else percentile)
    value = float(np.percentile(result["samples_ms"], percentile))
    result["budget"] = {"budget_ms": budget_ms, "percentile": percentile, "value_ms": value,
                        "passed": value <= budget_ms, "source": source}
    need = runs_needed(percentile)
    if result["runs"] < need:
        result.setdefault("warnings", []).append(
            f"p{percentile:g} from {result['runs']} runs rests on fewer than {TAIL_SAMPLES} samples: use --runs {need}")
    return result["budget"]


def plot(result_paths: Sequence[str | Path], out: str | Path) -> Path:
    """Latency histogram(s) of one or more result JSON files into a PNG (matplotlib required)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise RuntimeError("plotting needs matplotlib (pip install matplotlib); the JSON has every sample") from e
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for p in result_paths:
        r = json.loads(Path(p).read_text())
        lat = r["latency_ms"]
        ax.hist(r["samples_ms"], bins=60, alpha=0.6,
                label=f"{r['machine']} {r['stage']}/{r['record']} {r['num_threads']}t: p50 {lat['p50']:.2f} "
                      f"p99 {lat['p99']:.2f} ms")
        if "budget" in r:
            ax.axvline(r["budget"]["budget_ms"], color="red", linestyle="--", linewidth=1)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("runs")
    ax.set_title("taste2vec-bench latency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)


def _brief(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (f"{r['model_version']} ({r['quantization']}) on {r['machine']} via {r['runtime']} "
            f"(delegate {r.get('delegate', 'not recorded')}), {r['num_threads']} "
            f"thread(s), {r['stage']} of a {r['record']} record (bucket {r['bucket']}): load {r['load_ms']:.1f} ms, "
            f"first {r['first_ms']:.2f} ms, {r['runs']} runs mean {lat['mean']:.3f} ± {lat['std']:.3f} ms, "
            f"p50 {lat['p50']:.3f} p90 {lat['p90']:.3f} p99 {lat['p99']:.3f} ms, peak RSS {r['peak_rss_mb']:.0f} MB")


def build_parser() -> Parser:
    ap = Parser(prog="taste2vec-bench", description=__doc__.split("\n\n")[0] + " Prints JSON, then the verdict.",
                epilog="\n\n".join(__doc__.split("\n\n")[1:]) + "\n\nSubcommands: taste2vec-bench plot RESULT.json "
                "[...] OUT.png; taste2vec-bench table RESULT.json [...] (the verdict table)")
    ap.add_argument("--model", help="bundle folder or .zip (default: the bundled model)")
    add_trust_arguments(ap)
    ap.add_argument("--num-threads", type=int, default=1, help="LiteRT interpreter threads")
    ap.add_argument("--delegate", choices=DELEGATES, default="xnnpack",
                    help="xnnpack: LiteRT's default CPU delegate, as on a phone; none: its builtin kernels only. The "
                         "result's 'delegate' is what the runtime applied (XNNPACK may not start on an unknown CPU)")
    ap.add_argument("--stage", choices=STAGES, default="embed",
                    help="embed: what an app calls; invoke: the interpreter alone; preprocess: no model")
    ap.add_argument("--record", choices=list(RECORDS), default="typical",
                    help="short notes; typical (EN notes, 11 metrics, 1 snapshot); korean; maximal (longest bucket, "
                         "8 snapshots)")
    ap.add_argument("--runs", type=int, default=DEFAULT_RUNS,
                    help="timed runs; a percentile p needs 10 / (1 - p/100) of them: p99 >= 1,000, p99.9 >= 10,000")
    ap.add_argument("--warmup", type=int, default=20, help="untimed runs before the timed ones")
    ap.add_argument("--budget-ms", type=float,
                    help="latency budget in ms; exit 1 when the percentile exceeds it (default: the bundle "
                         "manifest's latency_budget, 50 ms for the shipped model)")
    ap.add_argument("--percentile", type=float,
                    help="percentile the budget applies to (default: the manifest's, 99)")
    ap.add_argument("--baseline", help="bundle to time beside --model in the same run, interleaved (e.g. the "
                    "shipped one); with --max-ratio, the verdict is relative to it")
    ap.add_argument("--max-ratio", type=float, help="with --baseline: exit 1 when the percentile exceeds this many "
                    "times the baseline's (a CI gate that can fail on a fast machine)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--png", help="also write a latency histogram here (needs matplotlib)")
    ap.add_argument("--no-samples", action="store_true", help="leave the per-run samples out of the printed JSON")
    ap.add_argument("--verbose", "-v", action="store_true", help="also show the LiteRT runtime's own log lines")
    return ap


def build_plot_parser() -> Parser:
    ap = Parser(prog="taste2vec-bench plot", description="Histogram of result JSON files into a PNG.")
    ap.add_argument("results", nargs="+", help="result JSON files, then the PNG to write (last)")
    return ap


def verdict_line(result: dict[str, Any]) -> str:
    """``budget: p99 1.234 ms vs 50 ms (manifest) -> PASS``."""
    b = result["budget"]
    return (f"budget: p{b['percentile']:g} {b['value_ms']:.3f} ms vs {b['budget_ms']:g} ms ({b['source']}) -> "
            f"{'PASS' if b['passed'] else 'FAIL'}")


def build_table_parser() -> Parser:
    ap = Parser(prog="taste2vec-bench table", description="The verdict table of result JSON files (Markdown); exit "
                "1 when any run missed its budget.")
    ap.add_argument("results", nargs="+", help="result JSON files (taste2vec-bench --out)")
    return ap


def verdict_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: one row per result with its percentiles, budget and PASS/FAIL."""
    rows = ["| model | machine | threads | stage | record | runs | p50 ms | p90 ms | p99 ms | budget | value ms | "
            "verdict |", "|---|---|---:|---|---|---:|---:|---:|---:|---|---:|---|"]
    for r in results:
        lat = r["latency_ms"]
        b = r.get("budget") or (check_budget(r) if "samples_ms" in r else None)
        if b is None:
            raise ValueError(f"result of {r.get('model_version')} has neither a budget nor samples")
        rows.append(f"| {r['model_version']} | {r['machine']} | {r['num_threads']} | {r['stage']} | {r['record']} | "
                    f"{r['runs']} | {lat['p50']:.3f} | {lat['p90']:.3f} | {lat['p99']:.3f} | "
                    f"p{b['percentile']:g} <= {b['budget_ms']:.4g} ms | {b['value_ms']:.3f} | "
                    f"{'PASS' if b['passed'] else 'FAIL'} |")
    return "\n".join(rows)


class ResultFileError(Taste2VecError):
    """A file given as a benchmark result is missing, unreadable, or not a taste2vec-bench result."""


_RESULT_FIELDS = {"model_version": str, "machine": str, "num_threads": int, "stage": str, "record": str, "runs": int,
                  "latency_ms": dict, "budget": dict}


def read_result(path: str | Path) -> dict[str, Any]:
    """One result JSON written by ``taste2vec-bench --out`` (bounded read, every field the table uses checked).

    Raises:
      ResultFileError: naming the file and what is wrong with it.
    """
    r = read_json(path, ResultFileError, "benchmark result", max_bytes=64 << 20)
    hint = f"{path}: not a taste2vec-bench result ({{}}); write one with taste2vec-bench --out {path}"
    if not isinstance(r, dict):
        raise ResultFileError(hint.format(f"a JSON {type(r).__name__}, not an object"))
    for name, kind in _RESULT_FIELDS.items():
        if not isinstance(r.get(name), kind):
            raise ResultFileError(hint.format(f"'{name}' is missing or not a {kind.__name__}"))
    budget = r["budget"]
    for name, fields in (("latency_ms", ("p50", "p90", "p99")), ("budget", ("percentile", "budget_ms", "value_ms"))):
        if not all(isinstance(r[name].get(f), (int, float)) for f in fields):
            raise ResultFileError(hint.format(f"'{name}' needs numbers {', '.join(fields)}"))
    if not isinstance(budget.get("passed"), bool):
        raise ResultFileError(hint.format("'budget.passed' is missing"))
    return r


def _table(argv: Sequence[str]) -> int:
    a = build_table_parser().parse_args(argv)
    try:
        results = [read_result(f) for f in a.results]
    except ResultFileError as e:
        print(f"taste2vec-bench table: error: {e}", file=sys.stderr)
        return 2
    print(verdict_table(results))
    return 0 if all(r["budget"]["passed"] for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["table"]:
        return _table(argv[1:])
    if argv[:1] == ["plot"]:
        ap = build_plot_parser()
        a = ap.parse_args(argv[1:])
        if len(a.results) < 2:
            ap.error("give at least one result JSON and the PNG path")
        try:
            print(plot(a.results[:-1], a.results[-1]))
        except (RuntimeError, OSError, ValueError, KeyError) as e:
            print(f"taste2vec-bench: error: {e}", file=sys.stderr)
            return 2
        return 0
    ap = build_parser()
    a = ap.parse_args(argv)
    set_verbose(a.verbose)
    if a.percentile is not None and not 0 < a.percentile <= 100:
        ap.error("--percentile must be in (0, 100]")
    if a.max_ratio is not None and not a.max_ratio > 0:
        ap.error("--max-ratio must be > 0")
    if a.budget_ms is not None and not a.budget_ms > 0:
        ap.error("--budget-ms must be > 0")
    if a.png and importlib.util.find_spec("matplotlib") is None:
        ap.error("--png needs matplotlib (pip install matplotlib), or leave --png out: --out keeps every sample")
    if (a.baseline is None) != (a.max_ratio is None) or (a.baseline and a.budget_ms is not None):
        ap.error("--baseline and --max-ratio go together, instead of --budget-ms")
    try:
        if a.baseline:
            res, base = run_against_baseline(a.model, a.baseline, a.num_threads, a.stage, a.record, a.runs,
                                             a.warmup, **trust_from_args(a), delegate=a.delegate)
            budget = check_relative(res, base, a.max_ratio, a.percentile)
        else:
            res = run_benchmark(a.model, a.num_threads, a.stage, a.record, a.runs, a.warmup, **trust_from_args(a),
                                delegate=a.delegate)
            budget = check_budget(res, a.budget_ms, a.percentile)
    except (Taste2VecError, ValueError, OSError) as e:
        print(f"taste2vec-bench: error: {e}", file=sys.stderr)
        return 2
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.png:
        plot([a.out] if a.out else [_tmp_json(res)], a.png)
    shown = {k: v for k, v in res.items() if not (a.no_samples and k == "samples_ms")}
    print(json.dumps(shown, indent=1))
    print(_brief(res), file=sys.stderr)
    for w in res.get("warnings", []):
        print(f"taste2vec-bench: warning: {w}", file=sys.stderr)
    print(verdict_line(res), file=sys.stderr)
    return 0 if budget["passed"] else 1


def _tmp_json(res: dict[str, Any]) -> Path:
    import tempfile

    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(res, f)
    f.close()
    return Path(f.name)


if __name__ == "__main__":
    sys.exit(main())
