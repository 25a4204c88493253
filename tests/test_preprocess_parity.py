"""The SDK's per-record work gives, bit for bit, what it gave before it was made faster (c6fb7c0), on 10,000+
records: the end-to-end port lines (every modality, both languages, typos, the bad lines), notes whose Unicode
normalization is not idempotent, the real reviews when ../shared/data is there, and the sample records. The old SDK
comes from git (benchmarks/preprocess_ab.py); without git or that revision (an archive, a shallow clone) the test
is skipped, saying so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ab(benchmark_script):
    mod = benchmark_script("preprocess_ab")
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the old SDK cannot be taken from history")
    probe = subprocess.run(["git", "cat-file", "-e", f"{mod.BASE_REV}^{{commit}}"], cwd=ROOT, capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"revision {mod.BASE_REV} is not in this checkout's history (shallow clone or archive)")
    return mod


def test_every_outcome_matches_the_revision_before_the_speed_up(ab):
    from taste2vec.errors import Taste2VecError

    sets = ab.record_sets(10_000)
    with ab.old_sdk(ab.BASE_REV) as old_pkg:
        old, new = ab.embedders(old_pkg)
        counts = {name: ab.compare(old, new, old_pkg.errors.Taste2VecError, Taste2VecError, recs)
                  for name, recs in sets.items()}
    assert sum(c["records"] for c in counts.values()) >= 10_000, counts
    assert counts["port"]["errors"] >= 1_000  # the bad lines: the same error type, field and message
    assert "taste2vec_old" not in __import__("sys").modules  # the old package is gone again


def test_the_comparison_sees_a_difference(ab):
    """The comparison is not vacuous: an embedder whose lexicon input differs in one record is caught."""
    from taste2vec import Embedder
    from taste2vec.errors import Taste2VecError

    new = Embedder.create_default()

    class Skewed:
        def preprocess(self, rec):
            out = new.preprocess(rec)
            if rec == {"notes": ab.UNSTABLE_NOTES[0]}:
                out.tensors["lexicon"][0, 0] += 1.0
            return out

        embed = staticmethod(new.embed)

    with pytest.raises(AssertionError, match="differs"):
        ab.compare(new, Skewed(), Taste2VecError, Taste2VecError, [{"notes": n} for n in ab.UNSTABLE_NOTES])


def test_the_comparison_checks_the_batch_paths(ab):
    """A batch path (``Preprocessor.many``) that differs from the record-by-record one in one record is caught."""
    from types import SimpleNamespace

    from taste2vec import Embedder
    from taste2vec.errors import Taste2VecError

    new = Embedder.create_default()

    def many(records):
        out = new.preprocessor.many(records)
        out[-1].tensors["metrics"][0, 0] += 0.5
        return out

    skewed = SimpleNamespace(preprocess=new.preprocess, embed=new.embed, embed_batch=new.embed_batch,
                             preprocessor=SimpleNamespace(many=many))
    recs = [{"notes": n, "metrics": {"acidity": 5}} for n in ab.UNSTABLE_NOTES]
    assert ab.compare(new, new, Taste2VecError, Taste2VecError, recs) == {"records": len(recs), "errors": 0}
    with pytest.raises(AssertionError, match="preprocess_key, batch"):
        ab.compare(new, skewed, Taste2VecError, Taste2VecError, recs)
