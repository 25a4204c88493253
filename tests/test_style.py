"""House rules a reviewer would otherwise check by hand: functions fit on a screen, comments state rules (not
where they came from), one error base per layer, one usage error."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sdk/taste2vec", "converters/taste2vec_convert", "reference_model/taste2vec_reference",
            "backend/taste2vec_backend")
MAX_FUNCTION_LINES = 80
HISTORY = re.compile(r"\bissue\b|\bissues\b|\bthe seed's\b|\bthe seed (names|says|asks)\b", re.IGNORECASE)


def sources() -> list[Path]:
    return sorted(f for pkg in PACKAGES for f in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_fit_on_a_screen(path):
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines, line {n.lineno})"
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def test_comments_and_docstrings_state_rules_not_history():
    found = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.COMMENT, tokenize.STRING) and HISTORY.search(tok.string):
                found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string.strip()[:80]}")
    assert not found, "\n".join(found)


def test_one_usage_error_and_one_toolkit_base():
    from taste2vec.errors import Taste2VecError, UsageError
    from taste2vec_convert.export import ExportError
    from taste2vec_convert.tflite import ConversionError
    from taste2vec_reference.checkpoint import CheckpointError
    from taste2vec_reference.errors import ToolkitError
    from taste2vec_reference.lexicon_build import LexiconBuildError
    from taste2vec_reference.records_file import RecordsFileError
    from taste2vec_reference.repro_check import ReproCheckError

    for cls in (ExportError, ConversionError, CheckpointError, LexiconBuildError, RecordsFileError, ReproCheckError):
        assert issubclass(cls, ToolkitError) and issubclass(cls, Taste2VecError), cls
    assert issubclass(UsageError, Taste2VecError)
    usage = [f"{p.relative_to(ROOT)}" for p in sources() if re.search(r"^class \w*UsageError\b", p.read_text(), re.M)]
    assert usage == ["sdk/taste2vec/errors.py"], usage
