"""taste2vec-bench: the JSON it prints, and the budget check's exit status (an impossible budget fails)."""

from __future__ import annotations

import json

import pytest

from taste2vec.bench import main, run_benchmark, summarize_ms


def test_result_has_the_benchmark_model_fields():
    r = run_benchmark(stage="invoke", record="maximal", runs=5, warmup=1)
    from taste2vec.bundle import ModelBundle, default_bundle_path

    assert r["bucket"] == ModelBundle.load(default_bundle_path()).tokenizer.max_tokens and r["num_threads"] == 1 and r["runtime"] == "ai_edge_litert"
    assert r["load_ms"] > 0 and r["first_ms"] > 0 and r["peak_rss_mb"] > 10 and len(r["samples_ms"]) == 5
    lat = r["latency_ms"]
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


def test_summary_percentiles():
    s = summarize_ms(list(range(1, 101)))
    assert s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01) and s["min"] == 1


def test_impossible_budget_exits_1_and_a_generous_one_exits_0(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--runs", "5", "--warmup", "1", "--budget-ms", "0.000001", "--out", str(out), "--no-samples"]) == 1
    err = capsys.readouterr().err
    assert "FAIL" in err
    r = json.loads(out.read_text())
    assert r["budget"]["passed"] is False and r["budget"]["percentile"] == 99.0
    assert main(["--runs", "5", "--warmup", "1", "--budget-ms", "100000", "--percentile", "90"]) == 0
    assert "PASS" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--stage", "nope"], ["--percentile", "0", "--budget-ms", "5"],
                                  ["--budget-ms", "-1"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_missing_model_is_a_clear_error(capsys):
    assert main(["--model", "/nonexistent/bundle", "--runs", "3"]) == 2
    assert "not a bundle folder" in capsys.readouterr().err
