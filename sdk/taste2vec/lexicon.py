"""Bilingual (English / Korean) sensory lexicon and its deterministic matcher.

The lexicon file (``assets/sensory_lexicon.json``) lists the flavour-wheel nodes (category >
subcategory > attribute, plus a Mouthfeel extension), the terms that name them (names, synonyms,
common misspellings, in English and Korean), negators and intensity words. The matcher turns free-text
notes into a signed attribute-weight vector with one entry per node.

The rules are deliberately simple so that other language ports (Kotlin) reproduce them exactly:

1. Normalize: Unicode NFKC, then lower-case.
2. Tokenize: Latin runs ``[a-z0-9À-ɏ]+('[a-z]+)?`` and Hangul runs are tokens; everything else
   separates. Punctuation ``.,;:!?()[]{}`` / newline / ``·…`` and the clause-break words (``but``,
   ``하지만``...) start a new clause.
3. Match terms left to right, longest first (most tokens, then most characters). A Latin token
   matches a term token when equal; the last token may also be a plural (``-s``, ``-es``,
   ``-ies``→``-y``). A Hangul token matches when equal, when it starts with a term token of two or more
   syllables (particles such as ``이/가/향`` attach to Korean nouns), or when it is a one-syllable term
   plus a listed particle. Unmatched Latin tokens of ``fuzzy_min_len``+ characters may match one
   single-token Latin term at optimal-string-alignment distance <= ``fuzzy_max_distance`` (typos),
   unless listed in ``fuzzy_block`` or ambiguous.
4. Polarity: a *before* negator (``no``, ``without``, ``안``...) up to ``negation_window`` tokens
   before the term in the same clause, or an *after* negator (``없``, ``않``, ``free``...) in the rest of
   the term's last token or in the next tokens of the clause (up to the next matched term), flips the
   weight to -1.
5. Intensity: the nearest modifier before (or, for Korean ``after``/``both`` words, after) the term
   within ``modifier_window`` tokens scales the weight (``light`` 0.5, ``strong`` 1.5); default 1.
   An ``after`` word directly behind a matched term belongs to that term, not to the next one.
6. Each match adds its weight to its node, ``decay`` x weight to the parent and ``decay``^2 x weight to
   the grandparent; the vector is clipped to [-clip, clip].
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from .errors import Taste2VecError

_TOKEN_RE = re.compile(r"[a-z0-9\u00c0-\u024f]+(?:'[a-z]+)?|[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]+")
_CLAUSE_PUNCT = frozenset(".,;:!?()[]{}\n·…")
# One pass for tokenize(): group 1 a Latin token, group 2 a Hangul token, group 3 a clause punctuation mark
# (the same classes as _TOKEN_RE and _CLAUSE_PUNCT; the punctuation is never part of a token).
_SCAN_RE = re.compile(r"([a-z0-9\u00c0-\u024f]+(?:'[a-z]+)?)|([\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]+)"
                      r"|([.,;:!?()\[\]{}\n·…])")


def normalize_text(text: str) -> str:
    """NFKC + lower-case: the one normalization every component applies to notes."""
    return unicodedata.normalize("NFKC", text).lower()


def is_hangul(token: str) -> bool:
    c = token[0]
    return "\u1100" <= c <= "\u11ff" or "\u3130" <= c <= "\u318f" or "\uac00" <= c <= "\ud7a3"


class Token(NamedTuple):
    """A token of normalized text with its character span and clause number (immutable)."""

    text: str
    start: int
    end: int
    clause: int
    hangul: bool


def tokenize(normalized: str, clause_breaks: frozenset[str] = frozenset()) -> list[Token]:
    """Split normalized text into tokens and assign clause numbers (see module docs, rule 2)."""
    tokens: list[Token] = []
    append = tokens.append
    new = tuple.__new__  # Token(...) without the NamedTuple's Python-level __new__ (hot path)
    clause = 0
    punct = False  # a clause punctuation mark since the previous token
    for m in _SCAN_RE.finditer(normalized):
        kind = m.lastindex
        if kind == 3:
            punct = True
            continue
        if punct and tokens:
            clause += 1
        punct = False
        text = m.group(kind)
        if text in clause_breaks:
            clause += 1
        start, end = m.span()
        append(new(Token, (text, start, end, clause, kind == 2)))
    return tokens


def plural_bases(token: str) -> tuple[str, ...]:
    """Singular candidates of an English token (rule 3)."""
    out = []
    if token.endswith("ies") and len(token) > 4:
        out.append(token[:-3] + "y")
    if token.endswith("es") and len(token) > 3:
        out.append(token[:-2])
    if token.endswith("s") and len(token) > 2:
        out.append(token[:-1])
    return tuple(out)


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    la, lb = len(a), len(b)
    d = [[0] * (lb + 1) for _ in range(la + 1)]
    for i in range(la + 1):
        d[i][0] = i
    for j in range(lb + 1):
        d[0][j] = j
    for i in range(1, la + 1):
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[la][lb]


@dataclass(frozen=True)
class LexiconNode:
    index: int
    path: str
    name: str
    ko: str
    tier: str
    parent: int | None
    source: str


@dataclass(frozen=True)
class Term:
    text: str
    tokens: tuple[str, ...]
    node: int
    lang: str
    kind: str


@dataclass(frozen=True)
class Match:
    """One term found in the notes."""

    term: str
    node: int
    start: int  # first token index
    end: int  # one past the last token index
    weight: float
    negated: bool
    intensity: float
    fuzzy: bool


@dataclass(frozen=True)
class LexiconMatch:
    """Result of matching one text: the attribute-weight vector and the matches behind it."""

    vector: np.ndarray
    matches: tuple[Match, ...]
    tokens: tuple[Token, ...]


class LexiconError(Taste2VecError):
    """The lexicon file is malformed or of an unsupported version."""


class SensoryLexicon:
    """The sensory lexicon and matcher. Load with :meth:`load` or :meth:`default`."""

    def __init__(self, doc: dict[str, Any]) -> None:
        if doc.get("lexicon") != "taste2vec.sensory_lexicon":
            raise LexiconError("not a taste2vec sensory lexicon (key 'lexicon')")
        if str(doc.get("version", "")).split(".")[0] != "1":
            raise LexiconError(f"unsupported lexicon version {doc.get('version')!r} (this SDK reads 1.x)")
        self.doc = doc
        self.version: str = doc["version"]
        self.nodes = tuple(LexiconNode(**n) for n in doc["nodes"])
        if [n.index for n in self.nodes] != list(range(len(self.nodes))) or doc.get("dim") != len(self.nodes):
            raise LexiconError("lexicon nodes must be indexed 0..dim-1")
        m = doc["matching"]
        self.decay = float(m["ancestor_decay"])
        self.clip = float(m["clip"])
        self.neg_window = int(m["negation_window"])
        self.mod_window = int(m["modifier_window"])
        self.fuzzy_min_len = int(m["fuzzy_min_len"])
        self.fuzzy_max = int(m["fuzzy_max_distance"])
        self.clause_breaks = frozenset(doc["clause_breaks"])
        self.particles = frozenset(doc["ko_particles"])
        self.fuzzy_block = frozenset(doc["fuzzy_block"])
        self.neg_before = frozenset(n["text"] for n in doc["negators"] if n["position"] in ("before", "both"))
        self.neg_after = tuple(n["text"] for n in doc["negators"] if n["position"] in ("after", "both"))
        self.mod_before = tuple((i["text"], float(i["weight"])) for i in doc["intensifiers"]
                                if i["position"] in ("before", "both"))
        self.mod_after = tuple((i["text"], float(i["weight"])) for i in doc["intensifiers"]
                               if i["position"] in ("after", "both"))
        self.terms = tuple(Term(t["text"], tuple(t["text"].split(" ")), int(t["node"]), t["lang"], t["kind"])
                           for t in doc["terms"])
        # candidate index: Latin terms by their first token, Hangul terms by their first syllable
        self._by_first: dict[str, list[Term]] = {}
        for t in self.terms:
            key = t.tokens[0][0] if is_hangul(t.tokens[0]) else t.tokens[0]
            self._by_first.setdefault(key, []).append(t)
        for lst in self._by_first.values():
            lst.sort(key=_term_order)
        self._fuzzy_terms = [t for t in self.terms if len(t.tokens) == 1 and not is_hangul(t.text)
                             and len(t.text) >= self.fuzzy_min_len]
        self._by_path = {n.path: n for n in self.nodes}
        # per-word memos (words repeat across notes; bounded by _cached)
        self._fuzzy_cache: dict[str, Term | None] = {}
        self._entry_cache: dict[str, tuple[tuple[Term, ...], Term | None, bool]] = {}
        self._neg_after_table = tuple((n, 1.0) for n in self.neg_after)
        self._neg_after_cache: dict[str, float | None] = {}
        self._mod_before_cache: dict[str, float | None] = {}
        self._mod_after_cache: dict[str, float | None] = {}
        self._del_index: dict[str, tuple[int, ...]] | None = None
        self._tree: tuple[tuple[int, ...], tuple[frozenset[int], ...]] | None = None
        self._deletion_index()  # ~2 ms now rather than on the first unknown word of a user's first record
        # per node: (ancestor, decay ** depth) up its chain, the share of a match's weight each ancestor gets
        shares = []
        for n in self.nodes:
            chain, p = [], n.parent
            while p is not None:
                chain.append((p, self.decay ** (len(chain) + 1)))
                p = self.nodes[p].parent
            shares.append(tuple(chain))
        self._shares = tuple(shares)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> "SensoryLexicon":
        """Load a lexicon JSON file."""
        try:
            return cls(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise LexiconError(f"cannot load sensory lexicon {path}: {e}") from e

    @classmethod
    def default(cls) -> "SensoryLexicon":
        """The lexicon shipped with this package (cached)."""
        return _default_lexicon()

    @property
    def dim(self) -> int:
        """Length of the attribute-weight vector (number of nodes)."""
        return len(self.nodes)

    def node_by_path(self, path: str) -> LexiconNode:
        return self._by_path[path]

    # ------------------------------------------------------------------ matching
    def _tok_matches(self, term_tok: str, tok: Token, last: bool) -> bool:
        if tok.hangul:
            if tok.text == term_tok:
                return True
            if not last or not tok.text.startswith(term_tok):
                return False
            return len(term_tok) >= 2 or tok.text[len(term_tok):] in self.particles
        if tok.text == term_tok:
            return True
        return last and term_tok in plural_bases(tok.text)

    def _token_entry(self, tok: Token) -> tuple[tuple[Term, ...], Term | None, bool]:
        """What may match at a token with this text (memoized per text): the multi-token terms that start
        with it (longest first; whether one matches depends on the tokens after it), else the term the token
        alone matches (single-token terms depend on the text only), else its fuzzy match; and whether that
        last one is fuzzy."""
        return _cached(self._entry_cache, tok.text, self._find_entry, tok)

    def _find_entry(self, tok: Token) -> tuple[tuple[Term, ...], Term | None, bool]:
        cands = self._find_candidates(tok)
        multi = tuple(t for t in cands if len(t.tokens) > 1)
        single = next((t for t in cands if len(t.tokens) == 1 and self._tok_matches(t.tokens[0], tok, True)), None)
        return (multi, single, False) if single is not None else (multi, self._fuzzy(tok), True)

    def _find_candidates(self, tok: Token) -> list[Term]:
        """Terms that may start at ``tok``, longest first."""
        key = tok.text[0] if tok.hangul else tok.text
        found = list(self._by_first.get(key, ()))
        if not tok.hangul:
            for base in plural_bases(tok.text):
                found += self._by_first.get(base, ())
            found.sort(key=_term_order)
        return found

    def _find_term(self, tokens: Sequence[Token], i: int, candidates: tuple[Term, ...]) -> Term | None:
        """The longest of ``candidates`` (multi-token terms that may start at ``tokens[i]``) that matches there."""
        clause = tokens[i].clause
        n_tok = len(tokens)
        for term in candidates:
            n = len(term.tokens)
            if i + n > n_tok or tokens[i + n - 1].clause != clause:
                continue
            for j in range(n):
                if not self._tok_matches(term.tokens[j], tokens[i + j], j == n - 1):
                    break
            else:
                return term
        return None

    def _fuzzy(self, tok: Token) -> Term | None:
        if tok.hangul or len(tok.text) < self.fuzzy_min_len or tok.text in self.fuzzy_block:
            return None
        return _cached(self._fuzzy_cache, tok.text, _fuzzy_lookup, self, tok.text)

    def _deletion_index(self) -> dict[str, tuple[int, ...]]:
        """Fuzzy term indices by the term and each of its one-deletion variants (built once, lazily)."""
        if self._del_index is None:
            idx: dict[str, list[int]] = {}
            for i, t in enumerate(self._fuzzy_terms):
                for v in {t.text} | _deletions(t.text):
                    idx.setdefault(v, []).append(i)
            self._del_index = {k: tuple(v) for k, v in idx.items()}
        return self._del_index

    def match(self, notes: str) -> LexiconMatch:
        """Match notes and return the attribute-weight vector with the matches behind it."""
        tokens, vec, matches = self._scan(notes, explain=True)
        return LexiconMatch(vec, tuple(matches), tuple(tokens))

    def vector(self, notes: str) -> np.ndarray:
        """Just the float32 attribute-weight vector of :meth:`match` (without building the match records)."""
        return self._scan(notes, explain=False)[1]

    def _scan(self, notes: str, explain: bool) -> tuple[list[Token], np.ndarray, list[Match]]:
        tokens = tokenize(normalize_text(notes), self.clause_breaks)
        spans: list[tuple[int, int, Term, bool]] = []
        entries = self._entry_cache
        i, n_tok = 0, len(tokens)
        while i < n_tok:
            tok = tokens[i]
            multi, alone, fuzzy = entries.get(tok.text) or self._token_entry(tok)
            term = self._find_term(tokens, i, multi) if multi else None
            if term is not None:
                spans.append((i, i + len(term.tokens), term, False))
                i += len(term.tokens)
                continue
            if alone is not None:
                spans.append((i, i + 1, alone, fuzzy))
            i += 1
        matches: list[Match] = []
        if not spans:
            return tokens, np.zeros(self.dim, dtype=np.float32), matches
        in_match = [False] * len(tokens)
        for s, e, _, _ in spans:
            for k in range(s, e):
                in_match[k] = True
        acc = [0.0] * self.dim  # float64 sums, as before; numpy at the end (per-item numpy ops are slow)
        shares, window = self._shares, max(self.neg_window, self.mod_window)
        for s, e, term, fuzzy in spans:
            last = tokens[e - 1]
            rest = last.text[len(term.tokens[-1]):] if last.hangul and last.text.startswith(term.tokens[-1]) else ""
            after = _after_run(tokens, e, window, in_match)
            negated = self._negated(tokens, s, rest, after)
            intensity = self._intensity(tokens, s, rest, in_match, after)
            w = -1.0 if negated else intensity
            acc[term.node] += w
            for anc, share in shares[term.node]:
                acc[anc] += w * share
            if explain:
                matches.append(Match(term.text, term.node, s, e, w, negated, intensity, fuzzy))
        vec = np.clip(np.array(acc, dtype=np.float64), -self.clip, self.clip)
        return tokens, vec.astype(np.float32), matches

    def top_attributes(self, vector: np.ndarray, k: int = 8) -> dict[str, float]:
        """The ``k`` strongest positive attributes of a lexicon vector (path -> weight rounded to 4 places).

        Strongest first, the more specific node first among equals; a node whose descendant is already kept
        adds nothing (its weight came from that descendant).
        """
        weights = np.asarray(vector, np.float32).tolist()
        neg_depth, below = self._path_tree()
        kept: list[int] = []
        for _, _, i in sorted([(-w, neg_depth[i], i) for i, w in enumerate(weights) if w > 0]):
            if below[i].isdisjoint(kept):
                kept.append(i)
                if len(kept) == k:
                    break
        nodes = self.nodes
        return {nodes[i].path: round(weights[i], 4) for i in kept}

    def _path_tree(self) -> tuple[tuple[int, ...], tuple[frozenset[int], ...]]:
        """Per node: minus its path depth (count of " > ") and the nodes whose path extends it (built once)."""
        if self._tree is None:
            below: list[set[int]] = [set() for _ in self.nodes]
            for n in self.nodes:
                parts = n.path.split(" > ")
                for k in range(1, len(parts)):
                    up = self._by_path.get(" > ".join(parts[:k]))
                    if up is not None:
                        below[up.index].add(n.index)
            self._tree = (tuple(-n.path.count(" > ") for n in self.nodes), tuple(frozenset(b) for b in below))
        return self._tree

    def _negated(self, tokens: Sequence[Token], s: int, rest: str, after: list[Token]) -> bool:
        clause = tokens[s].clause
        for k in range(s - 1, max(-1, s - 1 - self.neg_window), -1):
            if tokens[k].clause != clause:
                break
            if tokens[k].text in self.neg_before:
                return True
        if rest and any(n in rest for n in self.neg_after):
            return True
        for tok in after[:self.neg_window]:
            if _cached(self._neg_after_cache, tok.text, _first_weight, self._neg_after_table, tok) is not None:
                return True
        return False

    def _intensity(self, tokens: Sequence[Token], s: int, rest: str, in_match: list[bool],
                   after: list[Token]) -> float:
        clause = tokens[s].clause
        for k in range(s - 1, max(-1, s - 1 - self.mod_window), -1):
            if tokens[k].clause != clause or in_match[k]:
                break
            if k > 0 and in_match[k - 1] and tokens[k - 1].clause == clause and self._after_mod(tokens[k]):
                break  # a Korean "after" word right behind the previous term belongs to that term
            w = _cached(self._mod_before_cache, tokens[k].text, _first_weight, self.mod_before, tokens[k])
            if w is not None:
                return w
        if rest:
            for text, w in self.mod_after:
                if text in rest:
                    return w
        for tok in after[:self.mod_window]:
            w = self._after_mod(tok)
            if w is not None:
                return w
        return 1.0

    def _after_mod(self, tok: Token) -> float | None:
        return _cached(self._mod_after_cache, tok.text, _first_weight, self.mod_after, tok)


def _after_run(tokens: Sequence[Token], e: int, window: int, in_match: list[bool]) -> list[Token]:
    """The tokens right after a match that ends at ``e``: at most ``window``, stopping at a clause change or at
    another match (a shorter window reads a prefix of it)."""
    clause = tokens[e - 1].clause
    run = []
    for k in range(e, min(len(tokens), e + window)):
        tok = tokens[k]
        if tok.clause != clause or in_match[k]:
            break
        run.append(tok)
    return run


_MEMO_LIMIT = 100_000
_MISSING = object()


def _cached(cache: dict[str, Any], key: str, compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)`` memoized in ``cache`` under ``key``; at most ``_MEMO_LIMIT`` entries, so adversarial
    text cannot grow it without bound."""
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = compute(*args)
        if len(cache) < _MEMO_LIMIT:
            cache[key] = value
    return value


def _term_order(t: Term) -> tuple:
    """Longest first: most tokens, then most characters, then the text (rule 3)."""
    return -len(t.tokens), -len(t.text), t.text


def _first_weight(table: Sequence[tuple[str, float]], tok: Token) -> float | None:
    """Weight of the first modifier in ``table`` that is the token (or, for Hangul, starts it)."""
    for text, w in table:
        if tok.text == text or (tok.hangul and tok.text.startswith(text)):
            return w
    return None


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _fuzzy_lookup(lex: SensoryLexicon, token: str) -> Term | None:
    """The single node within ``fuzzy_max`` edits of ``token`` (its first term in lexicon order), else None."""
    found: dict[int, Term] = {}
    if lex.fuzzy_max == 1:
        # every term within OSA distance 1 shares the token itself or a one-deletion variant with it
        # (SymSpell), so only those candidates are checked, in the lexicon's order: same result as a full scan
        index = lex._deletion_index()
        cand = sorted({i for v in (token, *_deletions(token)) for i in index.get(v, ())})
        terms = [lex._fuzzy_terms[i] for i in cand]
    else:
        terms = lex._fuzzy_terms
    for t in terms:
        if abs(len(t.text) - len(token)) <= lex.fuzzy_max and osa_distance(t.text, token) <= lex.fuzzy_max:
            found.setdefault(t.node, t)
    return next(iter(found.values())) if len(found) == 1 else None


@lru_cache(maxsize=1)
def _default_lexicon() -> SensoryLexicon:
    text = resources.files("taste2vec").joinpath("assets/sensory_lexicon.json").read_text(encoding="utf-8")
    return SensoryLexicon(json.loads(text))


def default_lexicon_path() -> Path:
    """Path of the lexicon file shipped with this package."""
    return Path(__file__).parent / "assets" / "sensory_lexicon.json"
