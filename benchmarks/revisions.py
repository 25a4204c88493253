"""What the A/B benchmarks share: the revision they compare against, its code from git, and where results go.

``preprocess_ab.py`` (the SDK in one process) and ``serve_ab.py`` (two servers in one sitting) compare this checkout
with ``BASE_REV`` unless told another revision.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
BASE_REV = "c6fb7c0"  # main before the SDK's and the server's speed work: what the speed-ups are measured against


def extract(rev: str, paths: Sequence[str], dest: Path) -> None:
    """``rev``'s ``paths`` (folders of this repository) under ``dest``, as git has them. CalledProcessError when git
    cannot produce them (no git, a shallow clone without ``rev``)."""
    data = subprocess.run(["git", "archive", rev, *paths], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def report(out: str | Path | None, res: dict[str, Any], md: str) -> None:
    """Print an A/B's table; with ``out``, also write its results as ``ab.json`` and the table as ``ab.md`` there."""
    print(md)
    if out is None:
        return
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "ab.md").write_text(md + "\n")
