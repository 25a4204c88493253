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


def test_default_budget_comes_from_the_manifest_and_every_run_ends_in_a_verdict(tmp_path, capsys):
    import shutil

    from taste2vec.bundle import default_bundle_path

    out = tmp_path / "r.json"
    assert main(["--runs", "20", "--warmup", "1", "--out", str(out), "--no-samples"]) == 0
    err = capsys.readouterr().err
    r = json.loads(out.read_text())
    assert r["budget"] == {**r["budget"], "budget_ms": 50.0, "percentile": 99.0, "source": "manifest", "passed": True}
    assert "budget: p99" in err and "(manifest) -> PASS" in err
    assert any("use --runs 1000" in w for w in r["warnings"])  # 20 runs cannot carry a p99
    # a bundle whose manifest asks for the impossible fails without any budget on the command line
    b = tmp_path / "b"
    shutil.copytree(default_bundle_path(), b)
    m = json.loads((b / "manifest.json").read_text())
    m["latency_budget"] = {"percentile": 50.0, "ms": 0.0001}
    (b / "manifest.json").write_text(json.dumps(m))
    assert main(["--model", str(b), "--allow-unsigned", "--runs", "20", "--no-samples", "--out", str(out)]) == 1
    r = json.loads(out.read_text())
    assert r["budget"]["percentile"] == 50.0 and not r["budget"]["passed"] and "warnings" not in r


def test_verdict_table_lists_each_result_and_fails_on_a_miss(tmp_path, capsys):
    ok, bad = tmp_path / "ok.json", tmp_path / "bad.json"
    main(["--runs", "5", "--warmup", "1", "--out", str(ok), "--no-samples"])
    main(["--runs", "5", "--warmup", "1", "--out", str(bad), "--no-samples", "--budget-ms", "0.000001"])
    capsys.readouterr()
    assert main(["table", str(ok)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 3 and table[2].endswith("| PASS |") and "p99 <= 50 ms" in table[2]
    assert main(["table", str(ok), str(bad)]) == 1
    assert capsys.readouterr().out.splitlines()[3].endswith("| FAIL |")
    assert main(["table", str(tmp_path / "missing.json")]) == 2


def test_litert_notice_is_hidden_unless_verbose():
    import subprocess
    import sys

    code = "from taste2vec import Embedder\nwith Embedder.create_default() as e: e.embed({'notes': 'x'})"
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    loud = subprocess.run([sys.executable, "-c", "from taste2vec.runtime import set_verbose; set_verbose(True)\n"
                           + code + "\nimport sys; print('after', file=sys.stderr)"],
                          capture_output=True, text=True, cwd="/", timeout=120)
    assert quiet.returncode == 0 and loud.returncode == 0
    assert "XNNPACK" not in quiet.stderr and "XNNPACK" in loud.stderr and "after" in loud.stderr
    # other stderr output written while a model loads is kept
    keep = subprocess.run([sys.executable, "-c", "import os, taste2vec.runtime as rt\nwith rt._quiet_native_notices():"
                           "\n    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\nkept line\\n')"],
                          capture_output=True, text=True, cwd="/", timeout=60)
    assert keep.stderr == "kept line\n"


@pytest.mark.parametrize("content,says", [
    (None, "cannot read benchmark result"),
    ("", "not valid JSON"),
    ("[1, 2]", "a JSON list, not an object"),
    ("{}", "'model_version' is missing"),
    ('{"model_version": "m", "machine": "x", "num_threads": 1, "stage": "embed", "record": "typical", "runs": 9, '
     '"latency_ms": {"p50": 1}, "budget": {}}', "'latency_ms' needs numbers p50, p90, p99"),
])
def test_table_of_a_file_that_is_not_a_result_is_one_typed_line(tmp_path, capsys, content, says):
    f = tmp_path / "r.json"
    if content is not None:
        f.write_text(content)
    assert main(["table", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("taste2vec-bench table: error: ") and says in err, err
    assert str(f) in err


def test_png_without_matplotlib_is_refused_before_the_run(monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(SystemExit) as info:
        main(["--runs", "10", "--png", str(tmp_path / "x.png"), "--out", str(tmp_path / "r.json")])
    assert info.value.code == 2 and "--png needs matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()  # refused before any work


def test_relative_gate_times_both_bundles_in_one_run_and_can_fail(tmp_path, capsys):
    from taste2vec.bundle import default_bundle_path

    shipped = str(default_bundle_path())
    out = tmp_path / "rel.json"
    assert main(["--baseline", shipped, "--max-ratio", "1000", "--runs", "40", "--warmup", "2", "--out", str(out),
                 "--no-samples"]) == 0
    res = json.loads(out.read_text())
    b = res["budget"]
    assert b["source"] == "1000 x baseline" and b["baseline"] == res["baseline"]["model_version"]
    assert b["budget_ms"] == pytest.approx(1000 * b["baseline_ms"]) and b["ratio"] == pytest.approx(
        b["value_ms"] / b["baseline_ms"])
    assert res["runs"] == res["baseline"]["runs"] == 40  # ten alternating blocks of four on each side
    assert "verdict" not in capsys.readouterr().out
    assert main(["--baseline", shipped, "--max-ratio", "0.001", "--runs", "20", "--warmup", "0", "--no-samples"]) == 1
    assert "(0.001 x baseline) -> FAIL" in capsys.readouterr().err
    assert main(["table", str(out)]) == 0


@pytest.mark.parametrize("argv", [["--baseline", "x"], ["--max-ratio", "2"], ["--baseline", "x", "--max-ratio", "0"],
                                  ["--baseline", "x", "--max-ratio", "2", "--budget-ms", "5"]])
def test_relative_gate_arguments_go_together(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_the_delegate_is_what_the_runtime_applied_read_from_the_graph():
    import numpy as np

    from taste2vec import Embedder
    from taste2vec.bundle import default_bundle_path
    from taste2vec.embedder import BaseOptions, EmbedderOptions
    from taste2vec.errors import OutOfRangeError
    from taste2vec.golden import sample_records

    def open_with(delegate):
        return Embedder.create_from_options(EmbedderOptions(BaseOptions(model_asset_path=default_bundle_path(),
                                                                        delegate=delegate)))

    with open_with("xnnpack") as x, open_with("none") as b:
        assert (x.delegate, b.delegate) == ("xnnpack", "none")
        # the detection follows what ran: XNNPACK's kernels give other bits than the builtin ones
        vx = np.stack([x.embed(r).embedding for _, r in sample_records()])
        vb = np.stack([b.embed(r).embedding for _, r in sample_records()])
        assert not np.array_equal(vx, vb) and (vx * vb).sum(axis=1).min() > 0.999
    assert run_benchmark(stage="invoke", runs=3, warmup=0, delegate="none")["delegate"] == "none"
    with pytest.raises(OutOfRangeError, match="base_options.delegate"):
        open_with("gpu")


def test_applied_delegate_without_a_readable_graph_is_unknown():
    from taste2vec.runtime import applied_delegate

    class Bare:  # an interpreter package that does not expose its nodes
        pass

    class Wrapper:
        def NumNodes(self):
            return 3

        def NodeName(self, i):
            return ["MUL", "DELEGATE", "ADD"][i]

    class Delegated:
        _interpreter = Wrapper()

    assert applied_delegate(Bare()) == "unknown" and applied_delegate(Delegated()) == "xnnpack"


def test_the_arm_report_reads_the_delegate_from_the_results_not_the_logs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    report = Path(__file__).resolve().parents[1] / "benchmarks" / "arm" / "report.py"
    r = run_benchmark(stage="invoke", runs=3, warmup=0)
    for delegate, log, applied in (("none", "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n", False),
                                   ("xnnpack", "", True)):
        out = tmp_path / delegate
        out.mkdir()
        for rec in ("typical", "maximal"):
            (out / f"arm64-{rec}.json").write_text(json.dumps({**r, "machine": "aarch64", "delegate": delegate}))
            (out / f"arm64-{rec}.log").write_text(log)  # a log line proves nothing either way
            (out / f"x86_64-{rec}.json").write_text(json.dumps(r))
        p = subprocess.run([sys.executable, str(report), str(out)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["setup"]["xnnpack_applied"] is applied and summary["setup"]["delegates"] == [delegate]
        assert ("XNNPACK delegate applied" in p.stdout) is applied and ("builtin kernels" in p.stdout) is not applied
        line = subprocess.run([sys.executable, str(report), "--delegate", str(out / "arm64-typical.json")],
                              capture_output=True, text=True, timeout=60).stdout
        assert ("NOT applied" in line) is not applied
