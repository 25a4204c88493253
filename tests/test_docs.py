"""The docs run as pasted: every shell and Python block of README.md and the folder READMEs is executed, in order,
in a temporary folder (or marked as not runnable, with the reason).

A block is runnable unless the line before its fence says why not::

    <!-- doc-test: skip: starts a long-running server; tests/test_server.py covers every route -->

Blocks of one document share their folder (a later block may use what an earlier one wrote); the repository's
folders are linked in read-only use (``sdk/``, ``reference_model/``, ...) and ``.venv/bin`` is on the PATH, so
``taste2vec ...`` and ``.venv/bin/taste2vec ...`` both work. ``json`` blocks must parse. Every fence names its
language. ``python tests/test_docs.py`` lists every block and whether it runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *ROOT.glob("*/README.md"), *ROOT.glob("docs/*.md")])
LINKED = ("sdk", "reference_model", "converters", "backend", "benchmarks", "android_demo", "toolkit", "setup.cfg",
          "pyproject.toml", "Makefile")
SHELL = {"bash", "sh", "shell", "console"}
RUNNABLE = SHELL | {"python"}
KNOWN = RUNNABLE | {"json", "kotlin", "text", "toml", "properties", "groovy", "xml"}
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARK = re.compile(r"^<!--\s*doc-test:\s*(?P<kind>skip|run)\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$")
BLOCK_TIMEOUT_S = 600


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    code: str
    skip: str | None  # the reason it is not run, or None

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.lang in RUNNABLE and self.skip is None


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file with their doc-test marks; ValueError on a malformed mark or fence."""
    out: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i + 1
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = _MARK.match(prev.strip())
        if "doc-test" in prev and not mark:
            raise ValueError(f"{doc.relative_to(ROOT)}:{i}: malformed doc-test mark {prev.strip()!r}")
        skip = None
        if mark and mark.group("kind") == "skip":
            skip = (mark.group("reason") or "").strip()
            if not skip:
                raise ValueError(f"{doc.relative_to(ROOT)}:{i}: a skipped block needs its reason")
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            raise ValueError(f"{doc.relative_to(ROOT)}:{start}: unclosed code fence")
        out.append(Block(doc, start, lang, "\n".join(lines[i + 1:j]) + "\n", skip))
        i = j + 1
    return out


def workspace(tmp: Path) -> dict[str, str]:
    """Link the repository's folders into ``tmp`` and return the environment the blocks run with."""
    for name in LINKED:
        if (ROOT / name).exists():
            (tmp / name).symlink_to(ROOT / name)
    venv = Path(sys.prefix)
    (tmp / ".venv").symlink_to(venv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASTE2VEC_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    if block.lang in SHELL:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        script = cwd / f".doc-block-{block.line}.py"
        script.write_text(block.code, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)


ALL = [b for d in DOCS for b in blocks(d)]


def test_every_fence_names_its_language_and_every_skip_its_reason():
    assert ALL, "no code blocks found"
    unnamed = [b.where for b in ALL if not b.lang]
    assert not unnamed, f"fences without a language: {unnamed}"
    unknown = [f"{b.where} ({b.lang})" for b in ALL if b.lang not in KNOWN]
    assert not unknown, f"unknown block languages: {unknown}"
    for b in ALL:
        if b.skip is not None:
            assert len(b.skip) >= 15, f"{b.where}: say why it cannot run ({b.skip!r})"


def test_runnable_blocks_have_no_placeholders():
    bad = re.compile(r"path/to/|cr-\.\.\.|<[A-Z_]+>|\bFOO\b|\bTODO\b|XXX")
    found = [f"{b.where}: {m.group(0)}" for b in ALL if b.runs for m in [bad.search(b.code)] if m]
    assert not found, found


def test_json_blocks_parse():
    for b in ALL:
        if b.lang == "json":
            json.loads(b.code)


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if any(b.runs for b in blocks(d))],
                         ids=lambda d: str(d.relative_to(ROOT)))
def test_document_runs_as_pasted(doc, tmp_path):
    env = workspace(tmp_path)
    for block in blocks(doc):
        if not block.runs:
            continue
        res = run_block(block, tmp_path, env)
        assert res.returncode == 0, (f"{block.where} ({block.lang}) exited {res.returncode}\n--- block\n"
                                     f"{block.code}--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-4000:]}")


def main() -> int:
    """List every block: where, language, and whether ``make test`` runs it (or why not)."""
    for b in ALL:
        status = "runs" if b.runs else (f"not run: {b.skip}" if b.skip else f"not code ({b.lang})")
        first = next((ln for ln in b.code.splitlines() if ln.strip()), "")[:70]
        print(f"{b.where:<32} {b.lang:<7} {status}\n{'':<41}{first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def test_the_bundle_format_spec_states_the_loaders_limits():
    """docs/bundle-format.md is what other ports implement: its limits are the Python loader's (and Kotlin's
    BundleLimits, checked by its JVM tests against the same constants)."""
    from taste2vec import bundle

    text = (ROOT / "docs" / "bundle-format.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([^|]+?) \| (\d+ (?:MiB|KiB)|\d+) \|$", text, re.M))
    unit = {"MiB": 1 << 20, "KiB": 1 << 10}

    def size(v: str) -> int:
        n, _, u = v.partition(" ")
        return int(n) * unit.get(u, 1)

    assert size(rows["a whole bundle (folder, zip file or zip bytes; inflated total)"]) == bundle.MAX_BUNDLE_BYTES
    assert size(rows["one file"]) == bundle.MAX_FILE_BYTES
    assert size(rows["`manifest.json`"]) == bundle.MAX_MANIFEST_BYTES
    assert size(rows["files in a bundle / members in a zip"]) == bundle.MAX_ENTRIES
    assert f'"{bundle.MANIFEST_FORMAT}"' in text and set(bundle.REQUIRED_FILES) <= set(re.findall(r"`([a-z_]+\.\w+)`", text))
    kotlin = (ROOT / "android_demo/taste2vec-core/src/main/kotlin/com/taste2vec/edge/core/BundleSource.kt").read_text()
    assert "MAX_BUNDLE_BYTES: Long = 256L shl 20" in kotlin and "MAX_ENTRIES = 64" in kotlin
    assert "MAX_FILE_BYTES: Long = 200L shl 20" in kotlin and "MAX_MANIFEST_BYTES: Long = 1L shl 20" in kotlin
