"""The phone path: LiteRT benchmark_model output becomes taste2vec-bench's JSON fields (no device needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "parse_benchmark_model", Path(__file__).resolve().parents[1] / "benchmarks/device/parse_benchmark_model.py")
pbm = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(pbm)

LOG = """STARTING!
Num threads: [1]
Graph: [/data/local/tmp/taste2vec.tflite]
Loaded model /data/local/tmp/taste2vec.tflite
The input model file size (MB): 0.772928
Initialized session in 3.412ms.
Running benchmark for at least 20 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=2402 first=412 curr=190 min=171 max=1210 avg=205.3 std=41
Running benchmark for at least 500 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=5100 first=201 curr=188 min=170 max=940 avg=195.9 std=28 p5=176 median=191 p95=231
Inference timings in us: Init: 3412, First inference: 412, Warmup (avg): 205.3, Inference (avg): 195.9
Peak memory footprint (MB): init=2.5 overall=4.75
"""


def test_parse_maps_fields_and_leaves_unmeasured_percentiles_null():
    r = pbm.parse(LOG, bucket=32)
    assert r["load_ms"] == pytest.approx(3.412) and r["first_ms"] == pytest.approx(0.412)
    lat = r["latency_ms"]
    assert lat["mean"] == pytest.approx(0.1959) and lat["max"] == pytest.approx(0.94)
    assert lat["p50"] == pytest.approx(0.191) and lat["p90"] is None and lat["p99"] is None
    assert r["runs"] == 5100 and r["num_threads"] == 1 and r["peak_rss_mb"] == 4.75 and r["stage"] == "invoke"


def test_budget_and_garbage(tmp_path, capsys):
    f = tmp_path / "log.txt"
    f.write_text(LOG)
    assert pbm.main([str(f), "--budget-ms", "50"]) == 0
    assert pbm.main([str(f), "--budget-ms", "0.5"]) == 1
    f.write_text("adb: no devices/emulators found")
    assert pbm.main([str(f)]) == 2
