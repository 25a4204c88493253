"""Records that prove a language port end to end: JSON lines in, this SDK's results out (:mod:`taste2vec.lines`).

``taste2vec golden --port-dir DIR`` writes ``e2e_records.jsonl`` (seeded, one JSON text per line) and
``e2e_expected.jsonl`` (what ``taste2vec embed --jsonl`` prints for them). The Kotlin library's JVM tests feed the
same lines through its own validation, preprocessing and the real LiteRT runtime and require every vector within
cosine 0.9999 of this SDK's and every bad line to fail with the same error type and field.

Good records cover English, Korean and mixed notes, every token bucket (and notes past the largest), notes cut at
``notes.max_chars``, any subset of metrics (bounds included, integers and floats, explicit nulls), zero to ten
context snapshots (more than ``context.max_steps`` drops the oldest), categories in odd case and spacing, and
every modality missing. Bad lines break one rule each, field by field, plus lines that break several (the first
error in the SDK's order must win) and lines that are not records or not JSON at all.
"""

from __future__ import annotations

import json
import random
from typing import Any

from .lexicon import SensoryLexicon
from .spec import RecordSpec

_EN_FILLER = ("and", "with", "a", "hint", "of", "very", "finish", "cup", "clean", "long", "short", "but", "not")
_KO_FILLER = ("그리고", "정말", "맛", "느낌", "커피", "조금", "향", "같은", "있는", "좋다", "아주", "약간")


def _notes(rng: random.Random, lexicon: SensoryLexicon, pool: list[str]) -> str | None:
    """Notes in one of the languages, aimed at a token bucket, or missing."""
    kind = rng.random()
    if kind < 0.06:
        return rng.choice((None, "", "   "))
    terms = [t["text"] for t in lexicon.doc["terms"]]
    en = [t for t in terms if t[0] < "\u1100"] + list(_EN_FILLER)
    ko = [t for t in terms if t[0] >= "\u1100"] + list(_KO_FILLER)
    words = rng.choice((en, ko, en + ko))
    n = rng.choice((2, 5, 9, 16, 30, 60, 120))  # short notes to past the largest bucket
    text = rng.choice((" ", ", ", ". ")).join(rng.choice(words) for _ in range(n))
    if kind < 0.25:
        text = rng.choice(pool)  # the port goldens' compositions: negation, typos, particles, emoji
    if kind > 0.96:
        text = (text + " ") * (600 // max(len(text), 1) + 1)  # past notes.max_chars: cut, still embedded
    return text


def _metrics(rng: random.Random, spec: RecordSpec) -> dict[str, Any] | None:
    if rng.random() < 0.15:
        return rng.choice((None, {}))
    out: dict[str, Any] = {}
    for m in rng.sample(spec.metrics, rng.randint(1, len(spec.metrics))):
        r = rng.random()
        v: Any = m.min if r < 0.05 else m.max if r < 0.1 else round(rng.uniform(m.min, m.max), rng.choice((0, 1, 3)))
        out[m.name] = None if r > 0.97 else (int(v) if float(v).is_integer() and rng.random() < 0.5 else v)
    return out


def _snapshot(rng: random.Random, spec: RecordSpec) -> dict[str, Any]:
    snap: dict[str, Any] = {}
    for f in rng.sample(spec.context_fields, rng.randint(0, len(spec.context_fields))):
        if f.kind == "categorical":
            c = rng.choice(f.categories)
            snap[f.name] = rng.choice((c, c.upper(), f" {c.title()} "))
        elif f.kind == "cyclic":
            snap[f.name] = rng.randint(int(f.min), int(f.max))
        else:
            snap[f.name] = round(rng.uniform(f.min, f.max), 2)
        if rng.random() < 0.03:
            snap[f.name] = None
    return snap


def good_records(spec: RecordSpec, lexicon: SensoryLexicon, pool: list[str], n: int, seed: int = 0,
                 ) -> list[dict[str, Any]]:
    """``n`` valid records (module docs); ``pool``: notes to draw from besides the generated ones."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        rec: dict[str, Any] = {}
        notes, metrics = _notes(rng, lexicon, pool), _metrics(rng, spec)
        context = None if rng.random() < 0.2 else [_snapshot(rng, spec) for _ in range(rng.randint(0, 10))]
        for key, value in (("notes", notes), ("metrics", metrics), ("context", context)):
            if value is not None or rng.random() < 0.3:  # a missing key and an explicit null both mean "not given"
                rec[key] = value
        out.append(dict(rng.sample(list(rec.items()), len(rec))))  # key order varies
    return out


def _field_breakers(spec: RecordSpec) -> list[dict[str, Any]]:
    """Records that break one metric or context rule each, for every metric and context field."""
    out: list[dict[str, Any]] = []
    for m in spec.metrics:
        for v in ("7", True, [1], {"v": 1}, float("nan"), float("inf"), -float("inf"), m.max + 1, m.min - 0.5,
                  10 ** 400, 1e300):
            out.append({"notes": "bright", "metrics": {m.name: v}})
    for f in spec.context_fields:
        bad: tuple[Any, ...] = ("x", 3, True, ["mon"]) if f.kind == "categorical" else \
            ("7", True, float("nan"), f.max + 1, f.min - 1, 10 ** 400)
        if f.kind == "cyclic":
            bad += (7.5,)
        out += [{"context": [{}, {f.name: v}]} for v in bad]
    return out


def _structure_breakers(spec: RecordSpec) -> list[Any]:
    """Records with the wrong shape, unknown names, too-long notes, and several errors at once."""
    m0, m1 = spec.metrics[0].name, spec.metrics[1].name
    return [
        [], "bright", 7, None, True, {"note": "x"}, {"notes": "x", "rating": 5}, {"notes": 5}, {"notes": ["a"]},
        {"notes": "가" * (spec.notes_reject_chars + 1)}, {"notes": "🫐" * (spec.notes_reject_chars + 1)},
        {"metrics": [1, 2]}, {"metrics": "acidity=7"}, {"metrics": {"acidityy": 5}}, {"metrics": {"": 5}},
        {"context": {"hour": 7}}, {"context": "morning"}, {"context": 3}, {"context": [None]}, {"context": [[1]]},
        {"context": [{"hour": 7}, "x"]}, {"context": [{"temperature": 20}]},
        {"context": [{"hour": 25}] + [{} for _ in range(spec.context_max_steps + 2)]},  # bad even when dropped
        {"metrics": {m0: 999, "zzz": 1}}, {"metrics": {"zzz": 1, m0: 999}}, {"metrics": {m0: "x", m1: 999}},
        {"context": [{"hour": 99}], "metrics": {m0: 999}}, {"notes": 5, "metrics": {m0: 999}},
        {"context": [{"weekday": "mon", "hour": 7.5, "bogus": 1}]}, {"context": [{"bogus": 1, "hour": 7.5}]},
        {"notes": "ok", "metrics": {m0: 999}, "zzz": 1},
    ]


_BROKEN_JSON = (
    "", "   ", "not json", "{", "{\"notes\": \"x\"", "{\"notes\": 'x'}", "{\"notes\": \"x\"} trailing",
    "{\"metrics\": {\"acidity\": 01}}", "{\"metrics\": {\"acidity\": .5}}", "{\"metrics\": {\"acidity\": 1.}}",
    "{\"metrics\": {\"acidity\": +1}}", "{\"metrics\": {\"acidity\": 0x10}}", "{\"notes\": \"\\uZZZZ\"}",
    "{\"notes\": \"\\x\"}", "{\"notes\": \"tab\there\"}", "\ufeff{\"notes\": \"bom\"}", "{\"notes\": \"x\",}",
    "[" * 600 + "]" * 600, "{\"metrics\": {\"acidity\": 1" + "0" * 5000 + "}}", "{\"metrics\": {\"acidity\": -NaN}}",
    "{\"metrics\": {\"acidity\": Infinity}}", "{\"metrics\": {\"acidity\": -Infinity}}", "nul", "true false",
)


def bad_lines(spec: RecordSpec) -> list[str]:
    """JSON lines that every port must refuse with the SDK's error type and field (module docs)."""
    lines = [json.dumps(r) for r in _field_breakers(spec) + _structure_breakers(spec)]
    lines += list(_BROKEN_JSON)
    lines.append('{"notes": "dup", "metrics": {"acidity": 5, "acidity": 99}}')  # the last duplicate wins
    lines.append('{"metrics": {"\\udc00acidity": 5}}')  # a lone surrogate in a name, echoed in the message
    lines.append('{"notes": "a lone \\ud800 surrogate, jasmine"}')  # not Unicode text: refused
    lines.append('{"notes": "jasmine \\udc00"}')
    return lines


def e2e_lines(spec: RecordSpec, lexicon: SensoryLexicon, pool: list[str], n_good: int = 1200, seed: int = 0,
              ) -> list[str]:
    """Good records (JSON written in varied styles) and bad lines, shuffled with a fixed seed."""
    rng = random.Random(seed)
    good = [json.dumps(r, ensure_ascii=rng.random() < 0.5, indent=None, separators=rng.choice(((",", ":"), None)))
            for r in good_records(spec, lexicon, pool, n_good, seed)]
    good.append('{"notes": "dup wins", "metrics": {"acidity": 99, "acidity": 5}}')
    good.append('{"notes": "\\ud83e\\udec6 \\uc0b0\\ubbf8 escaped", "metrics": {"acidity": 5e0, "sweetness": -0}}')
    good.append('{"notes": "\\ud83e\\udec6 paired surrogates escaped, jasmine"}')
    lines = good + bad_lines(spec)
    rng.shuffle(lines)
    return lines
