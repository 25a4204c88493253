"""Goldens for other language ports: what this SDK computes, written down so a port can prove it computes the same.

``taste2vec golden --port-dir DIR`` writes three files that the Kotlin module's JVM tests read
(``android_demo/taste2vec-core``; ``make test`` regenerates them first, so a change here that the port does not
mirror fails there):

- ``records.json`` (``taste2vec.golden/1``, :mod:`taste2vec.golden`): the sample records -> tokens, every model
  input tensor, the embedding.
- ``texts.json`` (``taste2vec.golden-text/1``): a few thousand notes -> normalized text, WordPiece tokens and ids,
  lexicon matches and vector. Edge cases plus seeded random compositions of lexicon terms, negators, intensity
  words, particles, clause breaks, plurals, typos, punctuation, emoji, full-width and jamo characters.
- ``rollout.json`` (``taste2vec.golden-rollout/1``): a three-arm rollout config and the variant of 5,000 user ids
  (ASCII, Hangul, emoji), so the app assigns users exactly as the Python SDK and the server do.
- ``e2e_records.jsonl`` / ``e2e_expected.jsonl``: >= 1,000 valid and >= 200 invalid JSON lines of records
  (:mod:`taste2vec.port_records`) and what ``taste2vec embed --jsonl`` prints for each (:mod:`taste2vec.lines`):
  the port runs them through its own validation, preprocessing and runtime.
- ``profile.json`` (``taste2vec.golden-profile/1``): a seeded stream of likes / dislikes / ratings on catalog
  embeddings through a small :class:`~taste2vec.profile.TasteProfile` (its buffer overflows, so folding into the
  prior is covered) -> the preference vector after every event, final scores, cosine similarities and
  :func:`~taste2vec.curation.recommend` picks with and without diversity.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .curation import Catalog, recommend
from .golden import make_golden, sample_records
from .lexicon import SensoryLexicon, normalize_text
from .lines import dumps, line_result
from .port_records import e2e_lines
from .profile import TasteProfile
from .tokenizer import WordPieceTokenizer

if TYPE_CHECKING:
    from .embedder import Embedder

TEXT_FORMAT = "taste2vec.golden-text/1"
PROFILE_FORMAT = "taste2vec.golden-profile/1"

EDGE_CASES = (
    "", " ", "\n\t", "bright", "BRIGHT!!", "Ｂｒｉｇｈｔ　ＪＡＳＭＩＮＥ", "café crème brûlée", "naïve ÆON œuvre",
    "no bitterness", "not bitter, but sweet", "without any sourness", "zero acidity", "never smoky",
    "slightly sweet", "very very sweet", "light body, strong finish", "jasmine-like", "berries", "cherries",
    "peaches", "notes of blueberries and strawberries", "jasmin bergamont blueberyy", "chocolatey caramelly",
    "coffee coffee coffee", "it's fruity", "don't like the bitter", "산미", "산미가", "산미가 없음", "신맛 없고 단맛",
    "쓴맛이 전혀 없고", "꽃향", "꽃향기가 살짝", "약간 달고 아주 쓰다", "하지만 산미는 좋다", "ㅋㅋㅋ 맛있다", "ᄒᆞᆫ글 옛한글",
    "자스민, 베르가못; 레몬(제스트)", "blueberry 잼 같은 단맛 and red wine", "🫐☕ juicy!!", "a\u00a0b\u2003c",
    "x" * 30, "supercalifragilisticexpialidocious", "12.5% 93°c 1:16", "1,000g — 3’30”", "tea-like, wine-like",
    "·…;:!?()[]{}", "Ⅻ ﬁne ﬂoral ㎏", "İstanbul ΟΔΟΣ straße", "ＡＢＣ１２３", "\u1100\u1161\u11a8", "ㄱㄴㄷ ㅏㅑ",
)
_FILLER_EN = ("and", "with", "a", "the", "of", "in", "finish", "cup", "very", "quite", "some", "hint", "really",
              "nice", "like", "this", "brew", "tastes", "more", "less", "than", "yesterday")
_FILLER_KO = ("그리고", "정말", "맛", "느낌", "커피", "오늘", "조금", "향", "같은", "있는", "좋다", "나는", "마셨다")
_PUNCT = (",", ".", "!", "?", ";", ":", " - ", " / ", "(", ")", "…", "·", "\n", "~", "&", "'", "\"", "%")
_ODD = ("🫐", "☕", "😋", "ｂｉｔｔｅｒ", "①", "ﬁ", "\u3000", "\u00a0", "é", "ü", "ß", "ㅋㅋ", "ᄀ", "ᅡ", "\u200b", "𝐛𝐨𝐥𝐝",
        "١٢", "ñ", "Å", "ǅ", "ǉ")


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1:]  # deletion
    if op == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # transposition
    if op == 2:
        return word[:i] + rng.choice("aeiourstn") + word[i + 1:]  # substitution
    return word[:i] + rng.choice("aeiourstn") + word[i:]  # insertion


def _plural(word: str) -> str:
    if word.endswith("y") and len(word) > 2:
        return word[:-1] + "ies"
    return word + ("es" if word.endswith(("s", "ch", "sh", "x")) else "s")


def random_notes(lexicon: SensoryLexicon, n: int, seed: int = 0) -> list[str]:
    """``n`` seeded random notes that exercise every matching rule (see module docs)."""
    rng = random.Random(seed)
    doc = lexicon.doc
    terms = [t["text"] for t in doc["terms"]]
    en_terms = [t for t in terms if not t[0] >= "\u1100"]
    ko_terms = [t for t in terms if t[0] >= "\u1100"]
    negators = [x["text"] for x in doc["negators"]]
    mods = [x["text"] for x in doc["intensifiers"]]
    particles = list(doc["ko_particles"])
    breaks = list(doc["clause_breaks"])
    # (cumulative probability, word maker): one draw picks the kind of word
    kinds = (
        (0.22, lambda: rng.choice(en_terms)),
        (0.36, lambda: rng.choice(ko_terms) + (rng.choice(particles) if rng.random() < 0.5 else "")),
        (0.44, lambda: rng.choice(negators)),
        (0.52, lambda: rng.choice(mods)),
        (0.56, lambda: rng.choice(breaks)),
        (0.62, lambda: _plural(rng.choice(en_terms).split(" ")[-1])),
        (0.70, lambda: _typo(rng, rng.choice(en_terms))),
        (0.80, lambda: rng.choice(_FILLER_EN)),
        (0.86, lambda: rng.choice(_FILLER_KO)),
        (0.95, lambda: rng.choice(_PUNCT)),
        (1.01, lambda: rng.choice(_ODD)),
    )
    out = []
    for _ in range(n):
        words: list[str] = []
        for _ in range(rng.randint(1, 18)):
            r = rng.random()
            words.append(next(make for edge, make in kinds if r < edge)())
        sep = rng.choice((" ", " ", " ", "", ", "))
        text = sep.join(words)
        if rng.random() < 0.3:
            text = text.upper() if rng.random() < 0.5 else text.title()
        out.append(text)
    return out


def text_case(text: str, tokenizer: WordPieceTokenizer, lexicon: SensoryLexicon) -> dict[str, Any]:
    """One text through normalization, the tokenizer and the lexicon."""
    norm = normalize_text(text)
    enc = tokenizer.encode(norm)
    m = lexicon.match(norm)
    return {"text": text, "normalized": norm, "tokens": list(enc.tokens), "ids": list(enc.ids),
            "truncated": enc.truncated, "bucket": tokenizer.bucket_for(len(enc.ids)),
            "lexicon_tokens": [t.text for t in m.tokens],
            "matches": [{"term": x.term, "node": x.node, "start": x.start, "end": x.end, "weight": x.weight,
                         "negated": x.negated, "fuzzy": x.fuzzy} for x in m.matches],
            "lexicon": [float(v) for v in m.vector],
            "attributes": [[a, w] for a, w in lexicon.top_attributes(m.vector).items()]}


def make_text_golden(tokenizer: WordPieceTokenizer, lexicon: SensoryLexicon, n_random: int = 3000,
                     seed: int = 0) -> dict[str, Any]:
    """``taste2vec.golden-text/1``: edge cases, the sample notes and ``n_random`` random notes."""
    texts = list(EDGE_CASES) + [r.get("notes", "") for _, r in sample_records()] + random_notes(lexicon, n_random,
                                                                                               seed)
    return {"format": TEXT_FORMAT, "tokenizer_version": tokenizer.version, "lexicon_version": lexicon.version,
            "max_tokens": tokenizer.max_tokens, "cases": [text_case(t, tokenizer, lexicon) for t in texts]}


def _floats(x: Any) -> list[float]:
    return [float(v) for v in np.asarray(x, np.float64).reshape(-1)]


def make_profile_golden(catalog: Catalog, n_events: int = 40, buffer_size: int = 8, seed: int = 0,
                        ) -> dict[str, Any]:
    """``taste2vec.golden-profile/1``: a seeded feedback stream on catalog items and what the profile makes of it."""
    rng = random.Random(seed)
    profile = TasteProfile(dim=catalog.embeddings.shape[1], buffer_size=buffer_size, ridge=1.0, fold_rate=0.5)
    events = []
    for _ in range(n_events):
        i = rng.randrange(len(catalog))
        item = catalog.items[i]
        kind = rng.choice(("like", "dislike", "rate"))
        ev: dict[str, Any] = {"item_id": item.id, "kind": kind}
        kw: dict[str, Any] = {"item_id": item.id, "attributes": dict(item.attributes)}
        if kind == "rate":
            ev["rating"] = rng.choice((1, 1.5, 2, 3, 3.5, 4, 4.5, 5))
            profile.rate(catalog.embeddings[i], ev["rating"], **kw)
        else:
            profile.add_feedback(catalog.embeddings[i], liked=kind == "like", **kw)
        ev["preference"] = _floats(profile.preference)
        events.append(ev)
    picks = []
    for k, diversity, exclude in ((5, 0.0, []), (5, 0.3, []), (8, 0.7, [catalog.items[0].id, catalog.items[1].id])):
        recs = recommend(profile, catalog, k=k, exclude=exclude, diversity=diversity)
        picks.append({"k": k, "diversity": diversity, "exclude": exclude,
                      "picks": [{"id": r.item.id, "score": r.score, "because": list(r.because),
                                 "similar_to": r.similar_to, "explanation": r.explanation} for r in recs]})
    empty = recommend(TasteProfile(dim=profile.dim), catalog, k=5, diversity=0.5)
    pairs = [(rng.randrange(len(catalog)), rng.randrange(len(catalog))) for _ in range(20)]
    return {"format": PROFILE_FORMAT, "catalog_model": catalog.model_version,
            "profile": {"dim": profile.dim, "buffer_size": buffer_size, "ridge": 1.0, "fold_rate": 0.5},
            "tolerance": 1e-5, "events": events,
            "final": {"prior": _floats(profile.prior), "preference": _floats(profile.preference),
                      "scores": _floats(profile.score(catalog.embeddings)),
                      "top_attributes": [[a, w] for a, w in profile.top_attributes(5)],
                      "attribute_affinity": profile.attribute_affinity},
            "recommend": picks,
            "recommend_empty_profile": [{"id": r.item.id, "score": r.score, "explanation": r.explanation}
                                        for r in empty],
            "cosine": [{"a": catalog.items[a].id, "b": catalog.items[b].id,
                        "value": float(np.dot(catalog.embeddings[a].astype(np.float64),
                                              catalog.embeddings[b].astype(np.float64))
                                       / (np.linalg.norm(catalog.embeddings[a].astype(np.float64))
                                          * np.linalg.norm(catalog.embeddings[b].astype(np.float64))))}
                       for a, b in pairs]}


def make_rollout_golden(n_users: int = 5000, seed: int = 0) -> dict[str, Any]:
    """``taste2vec.golden-rollout/1``: a config and the variant ``RolloutConfig.assign`` gives each of ``n_users``."""
    from .rollout import RolloutConfig, RolloutVariant, user_bucket

    cfg = RolloutConfig("edge-rollout-é자🫐", (RolloutVariant("control", "taste2vec-edge-1.2.0", 72.5),
                                               RolloutVariant("treatment", "taste2vec-edge-1.3.0", 17.5),
                                               RolloutVariant("holdout", "taste2vec-edge-1.1.0", 10.0)), revision=4)
    rng = random.Random(seed)
    users = [f"user-{i}" for i in range(n_users - 200)] + \
        ["".join(rng.choice("ab가힣🫐-_0") for _ in range(rng.randint(1, 12))) for _ in range(200)]
    return {"format": "taste2vec.golden-rollout/1", "config": cfg.to_dict(),
            "assignments": [{"user": u, "bucket": user_bucket(cfg.experiment, u), "variant": cfg.assign(u).name}
                            for u in users]}


def write_port_goldens(embedder: "Embedder", out_dir: str | Path, catalog: Catalog | None = None,
                       n_random: int = 3000, n_e2e: int = 1200) -> dict[str, Path]:
    """Write ``records.json``, ``texts.json``, ``profile.json``, ``rollout.json`` and the end-to-end record lines
    with their expected results into ``out_dir`` (module docs)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalog = catalog or Catalog.default()
    bundle = embedder.bundle
    docs = {"records.json": make_golden(embedder),
            "texts.json": make_text_golden(bundle.tokenizer, bundle.lexicon, n_random),
            "profile.json": make_profile_golden(catalog),
            "rollout.json": make_rollout_golden()}
    paths = {}
    for name, doc in docs.items():
        p = out / name
        p.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
        paths[name] = p
    lines = e2e_lines(bundle.spec, bundle.lexicon, random_notes(bundle.lexicon, 400, seed=1), n_e2e)
    expected = b"".join(dumps(line_result(embedder, line)) for line in lines)
    for name, data in (("e2e_records.jsonl", "".join(x + "\n" for x in lines).encode("utf-8", "surrogatepass")),
                       ("e2e_expected.jsonl", expected)):
        (out / name).write_bytes(data)
        paths[name] = out / name
    return paths
