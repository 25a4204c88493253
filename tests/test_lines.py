"""`taste2vec embed --jsonl`: the JSON-lines contract the Kotlin library's `make kotlin-embed` shares (taste2vec.lines)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from taste2vec import Embedder
from taste2vec import lines as lines_mod
from taste2vec.lines import diff_lines, dumps, embed_lines, line_result


@pytest.fixture(scope="module")
def emb():
    with Embedder.create_default() as e:
        yield e


def run(emb, data: bytes) -> list[dict]:
    return [json.loads(dumps(r)) for r in embed_lines(emb, io.BytesIO(data))]


def test_one_result_per_line_in_order_with_the_sdks_vectors_and_typed_errors(emb):
    rec = {"notes": "밝은 산미, jasmine", "metrics": {"acidity": 7.5}, "context": [{"hour": 8}]}
    data = (json.dumps(rec) + "\r\n" + '{"metrics": {"acidity": NaN}}\n' + "\n" + "[1, 2]\n"
            + '{"metrics": {"acidity": 1' + "0" * 400 + "}}\n" + '{"context": [{"hour": 7.5}], "metrics": {"zzz": 1}}\n'
            + b"\xff\xfe".decode("latin-1") + "\n" + json.dumps({"notes": "no newline at the end"})).encode()
    data = data.replace("ÿþ".encode(), b"\xff\xfe")  # a line that is not UTF-8
    out = run(emb, data)
    assert len(out) == 8
    want = emb.embed(rec)
    assert out[0]["model_version"] == want.model_version and out[0]["bucket"] == want.bucket
    assert np.array_equal(np.asarray(out[0]["embedding"], np.float32), want.embedding)  # exact float32 round trip
    errors = [(r["error"]["type"], r["error"]["field"]) for r in out[1:7]]
    assert errors == [("NonFiniteValueError", "metrics.acidity"), ("InvalidTypeError", "record"),
                      ("InvalidTypeError", "record"), ("OutOfRangeError", "metrics.acidity"),
                      ("UnknownFieldError", "metrics.zzz"),  # metrics are checked before context, as in embed()
                      ("InvalidTypeError", "record")]
    assert "not UTF-8" in out[6]["error"]["message"]
    assert "embedding" in out[7]


def test_a_line_over_the_limit_is_refused_without_being_read_whole(emb, monkeypatch):
    monkeypatch.setattr(lines_mod, "MAX_LINE_BYTES", 64)
    out = run(emb, b'{"notes": "' + b"x" * 500 + b'"}\n{"notes": "short"}\n')
    assert out[0]["error"]["field"] == "record" and "longer than 64 bytes" in out[0]["error"]["message"]
    assert "embedding" in out[1]


def test_json_text_inside_a_string_is_not_a_record_and_lone_surrogates_are_refused_and_escaped(emb):
    assert line_result(emb, json.dumps('{"notes": "x"}'))["error"]["field"] == "record"
    r = line_result(emb, '{"metrics": {"\\udc00x": 1}}')
    line = dumps(r)
    assert b"\\udc00x" in line and json.loads(line)["error"]["field"] == "metrics.\udc00x"
    lone = line_result(emb, '{"notes": "a lone \\ud800 surrogate"}')["error"]  # not Unicode text
    assert (lone["type"], lone["field"]) == ("InvalidTypeError", "notes") and "U+D800 at character 7" in lone["message"]
    assert "embedding" in line_result(emb, '{"notes": "paired \\ud83e\\udec6 escapes"}')


def test_cli_reads_stdin_and_refuses_mixed_options(tmp_path):
    cmd = [sys.executable, "-m", "taste2vec", "embed", "--jsonl", "-"]
    p = subprocess.run(cmd, input=b'{"notes": "jasmine"}\n{"notes": 5}\n', capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(x) for x in p.stdout.decode().splitlines()]
    assert len(rows[0]["embedding"]) == 128 and rows[1]["error"]["type"] == "InvalidTypeError"
    p = subprocess.run(cmd + ["--notes", "x"], capture_output=True, timeout=120)
    assert p.returncode == 2 and b"--jsonl reads every record from its file" in p.stderr
    p = subprocess.run([sys.executable, "-m", "taste2vec", "embed", "--jsonl", str(tmp_path / "missing.jsonl")],
                       capture_output=True, timeout=120)
    assert p.returncode == 2 and b"cannot read" in p.stderr


def test_diff_finds_a_moved_vector_a_different_error_and_a_missing_line(emb, tmp_path):
    lines = ['{"notes": "jasmine"}', '{"metrics": {"acidity": 11}}', '{"notes": "dark chocolate"}']
    want = [json.loads(dumps(line_result(emb, x))) for x in lines]
    same = diff_lines(want, json.loads(json.dumps(want)))
    assert same.ok and same.vectors == 2 and same.errors == 1 and same.min_cosine > 0.999999
    moved = json.loads(json.dumps(want))
    moved[0]["embedding"] = want[2]["embedding"]  # another record's vector
    moved[1]["error"]["field"] = "metrics.sweetness"
    d = diff_lines(want, moved[:3])
    assert not d.ok and len(d.differences) == 2 and d.min_cosine < 0.99
    assert not diff_lines(want, want[:2]).ok  # a missing line
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"".join(dumps(r) for r in want))
    b.write_bytes(b"".join(dumps(r) for r in moved))
    p = subprocess.run([sys.executable, "-m", "taste2vec", "diff", str(a), str(a)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("same: 2 vectors"), p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "taste2vec", "diff", str(a), str(b)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1 and "line 1: cosine" in p.stdout and "line 2: UnknownFieldError" not in p.stdout
    assert "line 2: OutOfRangeError at metrics.acidity expected, got OutOfRangeError at metrics.sweetness" in p.stdout
