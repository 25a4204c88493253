"""The SDK's per-record work, old against new in one process: bit-identical outputs, and how much faster.

    .venv/bin/python benchmarks/preprocess_ab.py                       # against c6fb7c0, 10,000+ records
    .venv/bin/python benchmarks/preprocess_ab.py --rev HEAD~3 --records 2000 --seconds 3

The old SDK is taken from git (``git archive REV sdk/taste2vec``) into a temporary folder and imported under another
package name, so both run in this interpreter on the same records: the end-to-end port lines (``port_records``:
English, Korean, mixed, every bucket, long notes, every modality missing) plus the bad ones, and the 12 sample
records. For every record both must give the same outcome: the same error type and field, or identical model input
tensors (bytes), bucket, tokens and warnings, and (``embed``) identical vectors and attributes. Then each side's
``preprocess`` and ``embed`` are timed alternately over the whole set.
"""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BASE_REV = "c6fb7c0"


def load_old_sdk(rev: str, into: Path, name: str = "taste2vec_old") -> Any:
    """The SDK package as it was at ``rev``, imported as ``name`` (its imports are relative)."""
    data = subprocess.run(["git", "archive", rev, "sdk/taste2vec"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "sdk" / "taste2vec").rename(into / name)
    sys.path.insert(0, str(into))
    return importlib.import_module(name)


def records(n_good: int) -> list[Any]:
    """The records of the comparison (parsed JSON values; some are not records at all)."""
    from taste2vec import Embedder
    from taste2vec.golden import sample_records
    from taste2vec.port_golden import random_notes
    from taste2vec.port_records import e2e_lines

    bundle = Embedder.create_default().bundle
    out = [r for _, r in sample_records()]
    # notes whose normalization is not idempotent (NFKC + lower-case twice differs from once): each component
    # normalizes what it is given, so a shortcut that skips a pass would show here
    out += [{"notes": n} for n in ("ϔ́ bright", "갓Ờ菉ϔ́ 초콜릿", "𝞨͂ jasmine", "𝓠憎ﯲİ̶ nutty", "‶露Α͂ 산미", "İ᳨ cocoa",
                                   "ＢＲＩＧＨＴ， ｊａｓｍｉｎｅ", "no İ̇ bitterness", "ﬁne floral")]
    for seed in range(max(1, -(-n_good // 1150))):  # ~1,150 valid records per seed
        for line in e2e_lines(bundle.spec, bundle.lexicon, random_notes(bundle.lexicon, 400, seed=seed + 1),
                              n_good=min(n_good, 1200), seed=seed):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def outcome(f: Callable[[Any], Any], rec: Any, errors: tuple[type, ...]) -> Any:
    try:
        return f(rec)
    except errors as e:
        return ("error", type(e).__name__, getattr(e, "field", None), str(e))


def preprocess_key(x: Any) -> Any:
    if isinstance(x, tuple):
        return x
    return ("ok", x.bucket, x.tokens, x.tokens_truncated, x.warnings,
            tuple((k, v.dtype.str, v.shape, v.tobytes()) for k, v in sorted(x.tensors.items())))


def embed_key(r: Any) -> Any:
    if isinstance(r, tuple):
        return r
    return ("ok", r.embedding.tobytes(), r.model_version, r.bucket, r.n_tokens, tuple(r.attributes.items()),
            r.warnings)


def compare(old: Any, new: Any, old_err: type, new_err: type, recs: Sequence[Any]) -> dict[str, int]:
    """Outcome by outcome (``old`` / ``new``: embedders); AssertionError naming the first record that differs."""
    counts = {"records": 0, "errors": 0}
    for i, rec in enumerate(recs):
        for key, fo, fn in ((preprocess_key, old.preprocess, new.preprocess), (embed_key, old.embed, new.embed)):
            a, b = key(outcome(fo, rec, (old_err,))), key(outcome(fn, rec, (new_err,)))
            if a != b:
                raise AssertionError(f"record {i} differs ({key.__name__}): {json.dumps(rec, ensure_ascii=False)[:300]}"
                                     f"\n  old: {str(a)[:300]}\n  new: {str(b)[:300]}")
        counts["records" if a[0] == "ok" else "errors"] += 1
    return counts


def unicode_notes(rec: Any) -> bool:
    """Whether a record's notes are Unicode text (lone surrogates are refused since 2026-12-05, embedded before)."""
    notes = rec.get("notes") if isinstance(rec, dict) else None
    if not isinstance(notes, str):
        return True
    try:
        notes.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def timed(f: Callable[[Any], Any], recs: Sequence[Any], errors: tuple[type, ...], seconds: float) -> float:
    """Microseconds per record of ``f`` over ``recs`` (errors included, as a server sees them)."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for r in recs:
            try:
                f(r)
            except errors:
                pass
        n += len(recs)
    return (time.perf_counter() - t0) / n * 1e6


def run(rev: str = BASE_REV, n_good: int = 10_000, seconds: float = 5.0, rounds: int = 3) -> dict[str, Any]:
    from taste2vec import Embedder
    from taste2vec.errors import Taste2VecError

    with tempfile.TemporaryDirectory() as tmp:
        old_sdk = load_old_sdk(rev, Path(tmp))
        old, new = old_sdk.Embedder.create_default(), Embedder.create_default()
        old_err = old_sdk.errors.Taste2VecError
        recs = [r for r in records(n_good) if unicode_notes(r)]
        res: dict[str, Any] = {"rev": rev, **compare(old, new, old_err, Taste2VecError, recs)}
        for stage in ("preprocess", "embed"):
            t_old, t_new = [], []
            for _ in range(rounds):  # alternate, so drift hits both sides alike
                t_old.append(timed(getattr(old, stage), recs, (old_err,), seconds / rounds))
                t_new.append(timed(getattr(new, stage), recs, (Taste2VecError,), seconds / rounds))
            res[stage] = {"old_us": round(min(t_old), 2), "new_us": round(min(t_new), 2),
                          "speedup": round(min(t_old) / min(t_new), 2)}
        return res


def main(argv: Sequence[str] | None = None) -> int:
    from taste2vec.helpformat import Parser

    p = Parser(description="Old vs new SDK preprocessing and embedding in one process: identical outputs, speed.")
    p.add_argument("--rev", default=BASE_REV, help="the git revision of the old SDK")
    p.add_argument("--records", type=int, default=10_000, help="valid records to compare (plus the bad lines)")
    p.add_argument("--seconds", type=float, default=6.0, help="timing per stage and side")
    a = p.parse_args(argv)
    res = run(a.rev, a.records, a.seconds)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
