"""The server A/B's parts that need no servers: the other revision's packages from git, and the summary."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ab(benchmark_script):
    return benchmark_script("serve_ab")


def test_summary_gives_each_pairs_ratio_and_the_median(ab):

    def side(rps, p50):
        return {"8x32": {"records_per_s": rps, "p50_ms": p50, "p99_ms": 2 * p50, "errors": 0}}

    pairs = [{"old": side(100.0, 4.0), "new": side(180.0, 2.0)},
             {"old": side(120.0, 5.0), "new": side(150.0, 3.0)},
             {"old": side(100.0, 4.5), "new": side(250.0, 2.5)}]
    s = ab.summarize(pairs)["8x32"]
    assert s["ratios"] == [1.8, 1.25, 2.5] and s["median_ratio"] == 1.8
    assert s["old_p50_ms"] == [4.0, 5.0, 4.5] and s["new_p50_ms"] == [2.0, 3.0, 2.5]
    md = ab.table({"rev": "abc", "workers": 2, "seconds_per_cell": 8.0, "pairs": pairs, "summary": {"8x32": s}})
    assert "| 2 | 8x32 | 120 | 150 | 1.25x | 5.00 / 3.00 |" in md and "median ratio 1.80x (range 1.25-2.50x)" in md


def test_the_other_revision_runs_from_its_own_packages(ab, tmp_path):
    if shutil.which("git") is None or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                                                     capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    env = ab.extract_rev("HEAD", tmp_path)
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "sdk"), str(tmp_path / "backend")]
    for pkg in ("sdk/taste2vec/embedder.py", "backend/taste2vec_backend/server/cli.py"):
        assert (tmp_path / pkg).is_file()
    assert any((tmp_path / "sdk" / "taste2vec" / "models").iterdir())  # its own shipped bundle
    out = subprocess.run([__import__("sys").executable, "-c", "import taste2vec, taste2vec_backend; "
                          "print(taste2vec.__file__, taste2vec_backend.__file__)"],
                         env={"PYTHONPATH": env["PYTHONPATH"], "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == [str(tmp_path / "sdk" / "taste2vec" / "__init__.py"),
                                                          str(tmp_path / "backend" / "taste2vec_backend" / "__init__.py")]
