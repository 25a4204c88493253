"""Every CLI explains itself: a walk over every parser and subcommand of every command line in the repository
fails on an option without help text, on a parser that does not show defaults, and on help that does not render."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from pathlib import Path
import subprocess
import sys

import pytest

from taste2vec.helpformat import HelpFormatter, int_at_least, iter_parsers

ROOT = Path(__file__).resolve().parents[1]

MODULES = ["taste2vec.cli", "taste2vec.bench", "taste2vec_reference.cli", "taste2vec_convert.cli",
           "taste2vec_backend.lifecycle.cli", "taste2vec_backend.server.cli", "taste2vec_backend.server.loadtest",
           "taste2vec_backend.stream.demo"]
SCRIPTS = ["benchmarks/side_by_side.py", "benchmarks/stream_throughput.py", "benchmarks/threads.py",
           "benchmarks/device/parse_benchmark_model.py"]


def _script(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem + "_under_test", ROOT / path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # as an import would: dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _parsers():
    for name in MODULES:
        yield name, importlib.import_module(name).build_parser()
    for path in SCRIPTS:
        yield path, _script(path).build_parser()


def _all_parsers():
    out = []
    for origin, top in _parsers():
        out += [(origin, p) for p in iter_parsers(top)]
    return out


PARSERS = _all_parsers()


def test_every_cli_is_walked():
    progs = {p.prog for _, p in PARSERS}
    for prog in ("taste2vec embed", "taste2vec recommend", "taste2vec-bench", "taste2vec-reference train",
                 "taste2vec-convert export", "taste2vec-lifecycle rollout-init", "taste2vec-lifecycle analyze",
                 "taste2vec-lifecycle list", "taste2vec-serve"):
        assert prog in progs, sorted(progs)
    assert len(PARSERS) > 50


@pytest.mark.parametrize("origin,parser", PARSERS, ids=[p.prog for _, p in PARSERS])
def test_every_option_has_help_and_shows_its_default(origin, parser):
    assert issubclass(parser.formatter_class, HelpFormatter), f"{parser.prog}: use taste2vec.helpformat.Parser"
    missing = [a.option_strings[0] if a.option_strings else a.dest for a in parser._actions
               if not isinstance(a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction))
               and not a.help]
    assert not missing, f"{parser.prog}: no help text for {missing}"
    text = parser.format_help()  # renders (a stray % in a help string raises here)
    assert "SUPPRESS" not in text, f"{parser.prog}: argparse.SUPPRESS leaks into the command list"
    for a in parser._actions:
        if (a.option_strings and a.help and a.help is not argparse.SUPPRESS and a.default not in (None, False, [])
                and a.default is not argparse.SUPPRESS):
            assert "default" in parser._get_formatter()._get_help_string(a).lower(), (parser.prog, a.dest)
    assert parser.description or parser.prog.count(" ") == 0 or "usage" in text


def test_defaults_formatter_shows_values_and_skips_flags():
    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--runs", type=int, default=200, help="timed runs")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--out", help="where (default: stdout)")
    text = " ".join(p.format_help().split())
    assert "timed runs (default: 200)" in text
    assert "a switch (default" not in text and text.count("default: stdout") == 1


@pytest.mark.parametrize("argv", [["taste2vec_reference", "train", "--steps", "0"],
                                  ["taste2vec_reference", "demo", "--steps", "-3"],
                                  ["taste2vec_reference", "train", "--threads", "0"],
                                  ["taste2vec_convert", "export", "--steps", "0"]])
def test_a_count_below_one_is_refused_before_any_work(argv, tmp_path):
    res = subprocess.run([sys.executable, "-m", *argv, "--out", str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert f"argument {argv[2]}: " in res.stderr and "allowed 1 or more" in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()  # nothing started


def test_int_at_least_names_the_bad_text():
    parse = int_at_least(1)
    assert parse("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match="'x' is not an integer"):
        parse("x")
