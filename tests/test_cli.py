"""The ``taste2vec`` command: JSON out, --help everywhere, exit 2 with a clear message on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from taste2vec.bundle import default_bundle_path
from taste2vec.cli import main

COMMANDS = ("embed", "similar", "recommend", "info", "golden", "demo")


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_embed_from_flags_prints_a_unit_vector(capsys):
    code, out, _ = _run(capsys, "embed", "--notes", "밝은 산미, jasmine", "--metric", "acidity=7.5", "--quantize")
    assert code == 0
    d = json.loads(out)
    assert len(d["embedding"]) == 128 and abs(np.linalg.norm(d["embedding"]) - 1) < 1e-5
    assert len(d["quantized_embedding"]) == 128 and d["model_version"] == default_bundle_path().name


def test_embed_list_from_file_and_similar(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"notes": "dark chocolate, smoky"}))
    b.write_text(json.dumps({"notes": "다크 초콜릿, 스모키"}))
    (tmp_path / "l.json").write_text(json.dumps([{"notes": "x"}, {"notes": "y"}]))
    code, out, _ = _run(capsys, "embed", "--record", str(tmp_path / "l.json"))
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = _run(capsys, "similar", str(a), str(b))
    assert code == 0 and json.loads(out)["cosine_similarity"] > 0.5
    code, out, _ = _run(capsys, "similar", str(a), "--catalog", "-k", "3")
    assert code == 0 and len(json.loads(out)["similar"]) == 3


def test_recommend_and_info(tmp_path, capsys):
    from taste2vec.curation import Catalog

    ids = [it.id for it in Catalog.default().items[:3]]
    code, out, _ = _run(capsys, "recommend", "--rate", f"{ids[0]}=5", "--disliked", ids[1], "--k", "4",
                        "--diversity", "0.3", "--save-profile", str(tmp_path / "p.json"))
    d = json.loads(out)
    assert code == 0 and len(d["recommendations"]) == 4 and d["feedback_events"] == 2
    assert not {ids[0], ids[1]} & {r["item"]["id"] for r in d["recommendations"]}
    code, out, _ = _run(capsys, "recommend", "--profile", str(tmp_path / "p.json"), "--k", "2")
    assert code == 0 and json.loads(out)["feedback_events"] == 2
    code, out, _ = _run(capsys, "info")
    assert code == 0 and json.loads(out)["quantization"]["variant"] == "dynamic_int8"


@pytest.mark.parametrize("argv, message", [
    (["embed", "--metric", "acidity=11"], "metrics.acidity"),
    (["embed", "--metric", "acidity"], "NAME=VALUE"),
    (["embed", "--metric", "acidity=high"], "not a number"),
    (["embed", "--context", '{"weekday": "funday"}'], "context[0].weekday"),
    (["embed", "--record", "/nonexistent.json"], "cannot read"),
    (["recommend", "--liked", "no-such-coffee"], "unknown catalog item"),
    (["recommend", "--rate", "x"], "ITEM_ID=STARS"),
    (["recommend", "--diversity", "3"], "diversity"),
    (["info", "--model", "/nonexistent"], "not a bundle folder"),
    (["golden"], "exactly one"),
])
def test_bad_input_exits_2_with_a_clear_message(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and message in err and err.startswith("taste2vec:")


def test_bad_json_on_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("{not json"))
    code, _, err = _run(capsys, "embed", "--record", "-")
    assert code == 2 and "not valid JSON" in err


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_everywhere(cmd):
    res = subprocess.run([sys.executable, "-m", "taste2vec", cmd, "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "usage: taste2vec" in res.stdout


def test_demo_runs(capsys):
    code, out, _ = _run(capsys, "demo")
    assert code == 0 and "cosine similarity" in out and "recommend" in out and "ms" in out
