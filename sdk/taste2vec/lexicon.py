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
from array import array
from bisect import bisect_left
from itertools import compress
from operator import attrgetter
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


def text_chunks(normalized: str) -> list[str]:
    """Normalized text cut at whitespace into chunks (a newline, clause punctuation that is also whitespace, stays
    a chunk of its own). No token of the lexicon or the tokenizer spans whitespace, so each reads a text as the
    concatenation of what it reads in its chunks, and chunks ("chocolate," "bright.") repeat across notes."""
    if "\n" not in normalized:
        return normalized.split()
    out: list[str] = []
    for k, line in enumerate(normalized.split("\n")):
        if k:
            out.append("\n")
        out += line.split()
    return out


# what a chunk memo keeps: chunks up to this long (a longer run without spaces is rare and not reused), at most this
# many (a few MB whatever text arrives; past it chunks are scanned every time)
CHUNK_MEMO_CHARS, CHUNK_MEMO_ENTRIES = 48, 32_768


def memo_chunk(cache: dict[str, Any], chunk: str, value: Any) -> Any:
    """Remember ``value`` for ``chunk`` within the chunk memo bounds; return it."""
    if len(chunk) <= CHUNK_MEMO_CHARS and len(cache) < CHUNK_MEMO_ENTRIES:
        cache[chunk] = value
    return value


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


_ITEM_RE = re.compile(_TOKEN_RE.pattern + r"|[.,;:!?()\[\]{}\n·…]+")  # a token, or a run of _CLAUSE_PUNCT


# a chunk of text: its tokens' texts and _Words, their clause offsets, clause punctuation before / after them
_Chunk = tuple[list[str], list["_Word"], list[int], bool, bool]
# a match: first token, end token, the term, whether it is a fuzzy match, what follows it in its last token
_Span = tuple[int, int, "Term", bool, str]


class _Word(NamedTuple):
    """What the matcher knows of a token text: the terms that may match there (rule 3: multi-token terms that
    start with it, longest first; else the term it alone matches, or its fuzzy match) and what it does to a term
    near it (rule 4: negates it from before or after; scales it from before or after, by the first listed
    modifier's weight)."""

    active: bool  # some term may match here
    multi: tuple[tuple["Term", list[str], str], ...]  # (term, its tokens but the last, the last)
    seconds: frozenset[str]  # the second tokens of those terms
    alone: "Term | None"
    fuzzy: bool  # ``alone`` is a fuzzy match
    rest: str  # what follows ``alone``'s text in a Hangul token (a particle or ending, where negators hide)
    hangul: bool
    keys: frozenset[str]  # a Latin token: the term tokens it can match as a term's last token (itself, its singulars)
    near: bool  # it negates or scales a term near it: one of the next four
    neg_before: bool
    neg_after: bool
    mod_before: float | None
    mod_after: float | None


_ACTIVE, _NEAR = attrgetter("active"), attrgetter("near")


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
        self._neg_after_table = tuple((n, 1.0) for n in self.neg_after)
        self._words: dict[str, _Word] = {}  # per token text (see _Word)
        self._chunks: dict[str, _Chunk] = {}  # per text chunk (see _chunk)
        self._rounded: dict[float, float] = {}  # -w -> round(w, 4): attribute weights repeat (float32 sums)
        self._rests: dict[str, tuple[bool, float | None]] = {}  # per Hangul ending (see _rest)
        self._after_window = max(self.neg_window, self.mod_window)
        self._del_index: dict[str, tuple[int, ...]] | None = None
        self._tree: tuple[tuple[int, ...], tuple[tuple[int, ...], ...], tuple[str, ...]] | None = None
        self._deletion_index()  # ~2 ms now rather than on the first unknown word of a user's first record
        # per node: the node and its ancestors up the chain, and the share of a match's weight each gets: 1, then
        # decay ** depth (rule 6); typed arrays, so numpy reads a record's additions without converting each item
        shares = []
        for n in self.nodes:
            chain, p = [n.index], n.parent
            while p is not None:
                chain.append(p)
                p = self.nodes[p].parent
            shares.append((array("q", chain), array("d", (self.decay ** k for k in range(len(chain))))))
        self._node_shares = tuple(shares)

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
    def _tok_matches(self, term_tok: str, text: str, hangul: bool, last: bool) -> bool:
        if text == term_tok:
            return True
        if hangul:
            if not last or not text.startswith(term_tok):
                return False
            return len(term_tok) >= 2 or text[len(term_tok):] in self.particles
        return last and term_tok in plural_bases(text)

    def _word(self, text: str) -> _Word:
        """What the matcher knows of a token text (memoized per text, bounded: words repeat across notes)."""
        return _cached(self._words, text, self._describe, text)

    def _describe(self, text: str) -> _Word:
        hangul = is_hangul(text)
        cands = self._find_candidates(text, hangul)
        multi = tuple((t, list(t.tokens[:-1]), t.tokens[-1]) for t in cands if len(t.tokens) > 1)
        alone = next((t for t in cands if len(t.tokens) == 1 and self._tok_matches(t.tokens[0], text, hangul, True)),
                     None)
        fuzzy = alone is None
        if fuzzy:
            alone = self._fuzzy(text, hangul)
        tail = alone.tokens[-1] if alone is not None else ""
        rest = text[len(tail):] if alone is not None and hangul and text.startswith(tail) else ""
        neg = (text in self.neg_before, _first_weight(self._neg_after_table, text, hangul) is not None)
        mod = (_first_weight(self.mod_before, text, hangul), _first_weight(self.mod_after, text, hangul))
        near = any(neg) or mod != (None, None)
        seconds = frozenset(t.tokens[1] for t, _, _ in multi)
        keys = frozenset(()) if hangul else frozenset((text, *plural_bases(text)))
        return _Word(bool(multi) or alone is not None, multi, seconds, alone, fuzzy, rest, hangul, keys, near, *neg,
                     *mod)

    def _find_candidates(self, text: str, hangul: bool) -> list[Term]:
        """Terms that may start at a token, longest first."""
        found = list(self._by_first.get(text[0] if hangul else text, ()))
        if not hangul:
            for base in plural_bases(text):
                found += self._by_first.get(base, ())
            found.sort(key=_term_order)
        return found

    def _find_term(self, texts: list[str], clauses: list[int], words: list[_Word], i: int) -> Term | None:
        """The longest multi-token term that may start at token ``i`` and matches there: every token but the
        last equal to the term's, the last one matching by rule 3."""
        clause, n_tok, w = clauses[i], len(texts), words[i]
        if i + 1 == n_tok:
            return None
        nxt = words[i + 1]
        if not nxt.hangul and w.seconds.isdisjoint(nxt.keys):
            return None  # no term's second token can be the next token
        for term, head, tail in w.multi:
            last = i + len(head)
            if last < n_tok and clauses[last] == clause and texts[i:last] == head \
                    and self._tok_matches(tail, texts[last], words[last].hangul, True):
                return term
        return None

    def _fuzzy(self, text: str, hangul: bool) -> Term | None:
        if hangul or len(text) < self.fuzzy_min_len or text in self.fuzzy_block:
            return None
        return _fuzzy_lookup(self, text)

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
        tokens = tokenize(normalize_text(notes), self.clause_breaks)
        nodes, adds, matches = self._weigh([t.text for t in tokens], [t.clause for t in tokens], None, explain=True)
        return LexiconMatch(self.sums(nodes, adds).astype(np.float32), tuple(matches), tuple(tokens))

    def vector(self, notes: str) -> np.ndarray:
        """Just the float32 attribute-weight vector of :meth:`match` (without building the match records)."""
        return self.sums(*self.additions(text_chunks(normalize_text(notes)))).astype(np.float32)

    def additions(self, chunks: list[str]) -> tuple[array, array]:
        """What the matches in already normalized notes (as :func:`text_chunks`) add to which node, in order (see
        :meth:`sums`): int64 node indices and float64 additions, as typed arrays."""
        return self._weigh(*self._token_texts(chunks), explain=False)[:2]

    def sums(self, nodes: Sequence[int], adds: Sequence[float]) -> np.ndarray:
        """float64[dim]: per node, the sum of its additions in their order, clipped to [-clip, clip] (rule 6)."""
        acc = np.bincount(nodes, adds, minlength=self.dim) if nodes else np.zeros(self.dim)  # adds sequentially
        return np.minimum(np.maximum(acc, -self.clip, out=acc), self.clip, out=acc)

    def _token_texts(self, chunks: list[str]) -> tuple[list[str], list[int], list[_Word]]:
        """The texts, clause numbers (:func:`tokenize`'s, without the character spans) and matcher view of the tokens
        of normalized text given as :func:`text_chunks`, chunk by memoized chunk."""
        texts: list[str] = []
        clauses: list[int] = []
        words: list[_Word] = []
        clause, gap, get, scan = 0, False, self._chunks.get, self._chunk
        for c in chunks:
            ctexts, cwords, offsets, lead, trail = get(c) or scan(c)
            if ctexts:
                start = clause + bool((gap or lead) and texts)  # punctuation since the last token: a new clause
                if len(offsets) == 1:
                    clause = start + offsets[0]
                    clauses.append(clause)
                else:
                    clauses += [start + o for o in offsets]
                    clause = clauses[-1]
                texts += ctexts
                words += cwords
                gap = trail
            elif trail:
                gap = True
        return texts, clauses, words

    def _chunk(self, chunk: str) -> _Chunk:
        """One chunk's tokens: texts, matcher views, clause numbers relative to the first token's clause (a clause
        punctuation mark or break word inside the chunk starts a new one), and whether clause punctuation comes
        before the first token or after the last (memoized)."""
        texts: list[str] = []
        offsets: list[int] = []
        lead, gap, offset, breaks = False, False, 0, self.clause_breaks
        for t in _ITEM_RE.findall(chunk):
            if t[0] in _CLAUSE_PUNCT:
                gap = True
                continue
            if texts:
                offset += gap
            else:
                lead = gap
            gap = False
            offset += t in breaks
            texts.append(t)
            offsets.append(offset)
        return memo_chunk(self._chunks, chunk, (texts, [self._word(t) for t in texts], offsets, lead, gap))

    def _spans(self, texts: list[str], clauses: list[int], words: list[_Word]) -> list[_Span]:
        """The matched terms, left to right, longest first (rule 3)."""
        spans: list[_Span] = []
        end = 0
        for i in compress(range(len(words)), map(_ACTIVE, words)):
            if i < end:
                continue  # inside the previous match
            w = words[i]
            term = self._find_term(texts, clauses, words, i) if w.multi else None
            if term is not None:
                end = i + len(term.tokens)
                last, tail = texts[end - 1], term.tokens[-1]
                rest = last[len(tail):] if words[end - 1].hangul and last.startswith(tail) else ""
                spans.append((i, end, term, False, rest))
            elif w.alone is not None:
                end = i + 1
                spans.append((i, end, w.alone, w.fuzzy, w.rest))
        return spans

    def _weigh(self, texts: list[str], clauses: list[int], words: list[_Word] | None, explain: bool
               ) -> tuple[array, array, list[Match]]:
        """What the matches of a tokenized text add to which node (rules 3-6), in order, and, when ``explain``,
        the matches (``words``: the tokens' :class:`_Word`, looked up here when None)."""
        if words is None:
            cache, word = self._words, self._word
            words = [cache.get(t) or word(t) for t in texts]
        spans = self._spans(texts, clauses, words)
        matches: list[Match] = []
        nodes = array("q")  # where each match's weight goes (rule 6), in match order
        adds = array("d")
        if not spans:
            return nodes, adds, matches
        near = list(compress(range(len(words)), map(_NEAR, words)))  # the tokens that can negate or scale a match
        n_near, reach, in_match = len(near), self._after_window, None
        for s, e, term, fuzzy, rest in spans:
            to, shares = self._node_shares[term.node]
            if n_near and (j := bisect_left(near, s - reach)) < n_near and near[j] < e + reach:
                in_match = in_match or _in_match(spans, len(texts))
                negated, intensity = self._polarity(clauses, words, in_match, s, e, rest, explain)
            elif rest:  # no word within reach of either window: only the term's own ending can negate or scale it
                negated, mod = self._rest(rest)
                intensity = 1.0 if mod is None else mod
            else:
                negated, intensity = False, 1.0
            w = -1.0 if negated else intensity
            adds += shares if w == 1.0 else array("d", [w * share for share in shares])
            nodes += to
            if explain:
                matches.append(Match(term.text, term.node, s, e, w, negated, intensity, fuzzy))
        return nodes, adds, matches

    def _polarity(self, clauses: list[int], words: list[_Word], in_match: list[bool], s: int, e: int, rest: str,
                  explain: bool) -> tuple[bool, float]:
        """Rules 4 and 5 for the match of tokens ``s..e-1`` (``rest``: what follows the term in its last token):
        whether it is negated, and its intensity (1.0 for a negated match unless ``explain``: it weighs -1
        whatever its intensity)."""
        clause = clauses[s]
        # the run right after the match: the same clause, up to the next match, at most the larger window
        end, stop = e, min(len(clauses), e + self._after_window)
        while end < stop and clauses[end] == clause and not in_match[end]:
            end += 1
        negated = False
        k, lo = s - 1, max(-1, s - 1 - self.neg_window)
        while k > lo and clauses[k] == clause:
            if words[k].neg_before:
                negated = True
                break
            k -= 1
        if not negated and rest:
            negated = self._rest(rest)[0]
        if not negated:
            k, hi = e, min(end, e + self.neg_window)
            while k < hi:
                if words[k].neg_after:
                    negated = True
                    break
                k += 1
        if negated and not explain:
            return True, 1.0
        return negated, self._intensity(clauses, words, in_match, s, e, end, rest)

    def _intensity(self, clauses: list[int], words: list[_Word], in_match: list[bool], s: int, e: int,
                   end: int, rest: str) -> float:
        clause = clauses[s]
        k, lo = s - 1, max(-1, s - 1 - self.mod_window)
        while k > lo and clauses[k] == clause and not in_match[k]:
            if k > 0 and in_match[k - 1] and clauses[k - 1] == clause and words[k].mod_after:
                break  # a Korean "after" word right behind the previous term belongs to that term
            w = words[k].mod_before
            if w is not None:
                return w
            k -= 1
        if rest and (w := self._rest(rest)[1]) is not None:
            return w
        for k in range(e, min(end, e + self.mod_window)):
            w = words[k].mod_after
            if w is not None:
                return w
        return 1.0

    def _rest(self, rest: str) -> tuple[bool, float | None]:
        """What a Hangul ending after a term does to it: whether a negator is in it (rule 4), and the weight of the
        first modifier in it (rule 5; None when there is none). Memoized: endings repeat."""
        return _cached(self._rests, rest, _rest_rule, self.neg_after, self.mod_after, rest)

    def top_attributes(self, vector: np.ndarray, k: int = 8) -> dict[str, float]:
        """The ``k`` strongest positive attributes of a lexicon vector (path -> weight rounded to 4 places).

        Strongest first, the more specific node first among equals; a node whose descendant is already kept
        adds nothing (its weight came from that descendant).
        """
        return self.top_attributes_many(np.asarray(vector, np.float32).reshape(1, -1), k)[0]

    def top_attributes_many(self, vectors: np.ndarray, k: int = 8) -> list[dict[str, float]]:
        """:meth:`top_attributes` of each row of float32[n, dim] (one pass of numpy over all the rows).

        Raises:
            IndexError: a row longer than the lexicon's nodes.
        """
        m = np.asarray(vectors, np.float32)
        rows, cols = np.nonzero(m > 0)
        weights = m[rows, cols].tolist()
        out: list[dict[str, float]] = [{} for _ in range(len(m))]
        neg_depth, above, paths = self._path_tree()
        rounded, start, n = self._rounded, 0, len(weights)
        rows, cols = rows.tolist(), cols.tolist()
        while start < n:  # the positive entries of one row at a time (np.nonzero lists them row by row)
            row, end = rows[start], start + 1
            while end < n and rows[end] == row:
                end += 1
            kept, covered = out[row], set()  # covered: the nodes above a kept one
            for neg_w, _, i in sorted([(-weights[j], neg_depth[cols[j]], cols[j]) for j in range(start, end)]):
                if i not in covered:
                    kept[paths[i]] = rounded.get(neg_w) or _cached(rounded, neg_w, _round4, -neg_w)
                    if len(kept) == k:
                        break
                    covered.update(above[i])
            start = end
        return out

    def _path_tree(self) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...], tuple[str, ...]]:
        """Per node: minus its path depth (count of " > "), the nodes whose path its own extends, and its path
        (built once)."""
        if self._tree is None:
            above: list[list[int]] = [[] for _ in self.nodes]
            for n in self.nodes:
                parts = n.path.split(" > ")
                for k in range(1, len(parts)):
                    up = self._by_path.get(" > ".join(parts[:k]))
                    if up is not None:
                        above[n.index].append(up.index)
            self._tree = (tuple(-n.path.count(" > ") for n in self.nodes), tuple(tuple(a) for a in above),
                          tuple(n.path for n in self.nodes))
        return self._tree


_MEMO_LIMIT = 100_000
_MISSING = object()


def _cached(cache: dict[Any, Any], key: Any, compute: Callable[..., Any], *args: Any) -> Any:
    """``compute(*args)`` memoized in ``cache`` under ``key``; at most ``_MEMO_LIMIT`` entries, so adversarial
    text cannot grow it without bound."""
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = compute(*args)
        if len(cache) < _MEMO_LIMIT:
            cache[key] = value
    return value


def _in_match(spans: Sequence[_Span], n: int) -> list[bool]:
    """Per token: whether it is part of a match."""
    out = [False] * n
    for s, e, _, _, _ in spans:
        if e - s == 1:
            out[s] = True  # most matches are one token
        else:
            out[s:e] = [True] * (e - s)
    return out


def _round4(w: float) -> float:
    return round(w, 4)


def _term_order(t: Term) -> tuple:
    """Longest first: most tokens, then most characters, then the text (rule 3)."""
    return -len(t.tokens), -len(t.text), t.text


def _rest_rule(neg_after: Sequence[str], mod_after: Sequence[tuple[str, float]], rest: str
               ) -> tuple[bool, float | None]:
    return any(n in rest for n in neg_after), next((w for text, w in mod_after if text in rest), None)


def _first_weight(table: Sequence[tuple[str, float]], token: str, hangul: bool) -> float | None:
    """Weight of the first modifier in ``table`` that is the token (or, for Hangul, starts it)."""
    for text, w in table:
        if token == text or (hangul and token.startswith(text)):
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
