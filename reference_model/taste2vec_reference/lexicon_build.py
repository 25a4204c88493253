"""Build the bilingual sensory lexicon shipped with the SDK from the flavour wheel and the overlay.

Input: the SCA/WCR flavour wheel hierarchy (``flavor_wheel/flavor_wheel.json`` in the shared data) and
``resources/lexicon_overlay.json`` (Korean names, synonyms, misspellings, negators, intensifiers).
Output: ``sdk/taste2vec/assets/sensory_lexicon.json``, read by :class:`taste2vec.lexicon.SensoryLexicon`
in Python and by the Kotlin port. The build is deterministic and refuses an overlay that misses a wheel
node, names a node the wheel does not have, or maps one term to two nodes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from taste2vec.lexicon import normalize_text, tokenize

from .errors import ToolkitError
from .paths import REPO_ROOT, RESOURCES, data_root, require

SEP = " > "
LEXICON_OUT = REPO_ROOT / "sdk" / "taste2vec" / "assets" / "sensory_lexicon.json"


class LexiconBuildError(ToolkitError):
    """The overlay and the wheel disagree, or terms collide."""


def wheel_paths(wheel: dict[str, Any]) -> list[tuple[str, ...]]:
    """Depth-first (pre-order) list of every node path of a 3-tier wheel mapping."""
    out: list[tuple[str, ...]] = []
    for cat, subs in wheel.items():
        out.append((cat,))
        for sub, leaves in subs.items():
            out.append((cat, sub))
            for leaf in leaves:
                out.append((cat, sub, leaf))
    return out


def build_lexicon(wheel_json: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Combine the wheel and the overlay into the lexicon document (pure function)."""
    wheel_nodes = wheel_paths(wheel_json["wheel"])
    ext_nodes = wheel_paths(overlay.get("extensions", {}))
    all_nodes = [(p, "wheel") for p in wheel_nodes] + [(p, "taste2vec") for p in ext_nodes]
    keys = {SEP.join(p) for p, _ in all_nodes}
    ov = overlay["nodes"]
    missing = sorted(keys - set(ov))
    extra = sorted(set(ov) - keys)
    if missing:
        raise LexiconBuildError(f"overlay lacks wheel nodes: {missing}")
    if extra:
        raise LexiconBuildError(f"overlay names nodes the wheel does not have: {extra}")
    tiers = ("category", "subcategory", "attribute")
    index = {SEP.join(p): i for i, (p, _) in enumerate(all_nodes)}
    nodes, terms = [], []
    owner: dict[str, int] = {}

    def add_term(text: str, node: int, lang: str, kind: str) -> None:
        norm = " ".join(t.text for t in tokenize(normalize_text(text)))
        if not norm:
            raise LexiconBuildError(f"term {text!r} has no matchable characters")
        if norm in owner:
            if owner[norm] != node and kind == "name":
                return  # a repeated wheel name ("Floral > Floral") belongs to its ancestor
            if owner[norm] != node:
                raise LexiconBuildError(f"term {norm!r} maps to {nodes_path[owner[norm]]!r} and {nodes_path[node]!r}")
            return
        owner[norm] = node
        terms.append({"text": norm, "node": node, "lang": lang, "kind": kind})

    nodes_path = [SEP.join(p) for p, _ in all_nodes]
    for i, (path, source) in enumerate(all_nodes):
        key = SEP.join(path)
        entry = ov[key]
        if not entry.get("ko"):
            raise LexiconBuildError(f"{key}: needs at least one Korean name")
        nodes.append({"index": i, "path": key, "name": path[-1], "ko": entry["ko"][0], "tier": tiers[len(path) - 1],
                      "parent": index[SEP.join(path[:-1])] if len(path) > 1 else None, "source": source})
    # names first (so ancestors own repeated names), then synonyms, then misspellings
    for kind, field in (("name", None), ("synonym", "en"), ("synonym", "ko"), ("misspelling", "typo")):
        for i, (path, _) in enumerate(all_nodes):
            entry = ov[SEP.join(path)]
            texts = [path[-1]] if field is None else entry.get(field, [])
            for t in texts:
                lang = "ko" if any("\uac00" <= ch <= "\ud7a3" for ch in t) else "en"
                add_term(t, i, lang, kind)
    doc = {
        "lexicon": "taste2vec.sensory_lexicon",
        "version": overlay["version"],
        "source": wheel_json.get("name", "flavour wheel") + " + Taste2Vec Korean names, synonyms, misspellings "
                  "and Mouthfeel extension",
        "dim": len(nodes),
        "nodes": nodes,
        "terms": terms,
        "negators": overlay["negators"],
        "intensifiers": overlay["intensifiers"],
        "clause_breaks": overlay["clause_breaks"],
        "ko_particles": overlay["ko_particles"],
        "fuzzy_block": overlay["fuzzy_block"],
        "matching": overlay["matching"],
    }
    return doc


def lexicon_bytes(doc: dict[str, Any]) -> bytes:
    """Canonical serialization (stable across runs, so the file hash is reproducible)."""
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False) + "\n").encode("utf-8")


def build_lexicon_file(out: Path = LEXICON_OUT, wheel_path: Path | None = None) -> tuple[Path, str]:
    """Read the wheel and the overlay, write the lexicon, return (path, sha256)."""
    wheel_path = wheel_path or require(data_root() / "flavor_wheel" / "flavor_wheel.json", "flavour wheel")
    wheel = json.loads(Path(wheel_path).read_text(encoding="utf-8"))
    overlay = json.loads((RESOURCES / "lexicon_overlay.json").read_text(encoding="utf-8"))
    data = lexicon_bytes(build_lexicon(wheel, overlay))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out, hashlib.sha256(data).hexdigest()
