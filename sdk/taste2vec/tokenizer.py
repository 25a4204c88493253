"""The on-device text tokenizer: a WordPiece vocabulary over Hangul and English, pure Python.

The student model reads token ids, not text, so the tokenizer is part of the model bundle
(``tokenizer.json``). The rules are short on purpose, so the Kotlin port reproduces them exactly:

1. Normalize: Unicode NFKC, then lower-case (the same ``normalize_text`` the lexicon uses).
2. Pre-tokenize: scan the string left to right; a maximal run of Latin characters
   (``a-z``, ``0-9``, U+00C0..U+024F) is one word; a maximal run of Hangul characters
   (U+1100..U+11FF, U+3130..U+318F, U+AC00..U+D7A3) is one word; any other non-whitespace
   character is a word of its own; whitespace separates.
3. WordPiece: a word longer than ``max_word_chars`` becomes one ``[UNK]``. Otherwise, from the start of
   the word, repeatedly take the longest prefix of the rest that is in the vocabulary (a piece that does
   not start the word is looked up with the ``##`` prefix). Where no prefix matches, the single
   character there becomes ``[UNK]`` and the scan goes on after it (the vocabulary holds every ASCII
   character and the 2,350 common Hangul syllables of KS X 1001, so this is rare).
4. Ids are vocabulary positions; ``[PAD]`` is id 0. No [CLS]/[SEP]. Sequences are truncated to the
   largest length bucket and right-padded with ``[PAD]`` to the smallest bucket that holds them.

"Characters" are Unicode code points (Kotlin: iterate code points, not UTF-16 chars).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import Taste2VecError
from .lexicon import memo_chunk, normalize_text, text_chunks

FORMAT = "taste2vec.wordpiece/1"
PAD, UNK = "[PAD]", "[UNK]"
_MEMO_LIMIT = 50_000  # words whose pieces are remembered
_first, _second = itemgetter(0), itemgetter(1)


class TokenizerError(Taste2VecError):
    """A tokenizer file is malformed or does not follow the format."""


# rule 2 as one regular expression: a Latin run, a Hangul run, or any other single non-whitespace code point
# (``\s`` in a ``str`` pattern is exactly ``str.isspace``)
_WORD_RE = re.compile(r"[a-z0-9\u00c0-\u024f]+|[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]+|\S")


def pre_tokenize(text: str) -> list[str]:
    """Split normalized text into words (rule 2 of the module docs)."""
    return _WORD_RE.findall(text)


@dataclass(frozen=True)
class Encoding:
    """Token ids of one text (unpadded) and whether it was truncated."""

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    truncated: bool


@dataclass
class WordPieceTokenizer:
    """Greedy longest-match-first WordPiece (see module docs). Immutable after construction."""

    vocab: list[str]
    buckets: tuple[int, ...] = (16, 32, 64)
    continuation_prefix: str = "##"
    max_word_chars: int = 24
    version: str = "1.0.0"
    _index: dict[str, int] = field(init=False, repr=False)
    # per word: its pieces and their ids (words repeat; bounded on adversarial input)
    _pieces: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = field(init=False, repr=False, default_factory=dict)
    _chunks: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.vocab or self.vocab[0] != PAD or UNK not in self.vocab:
            raise TokenizerError(f"vocabulary must start with {PAD} and contain {UNK}")
        if len(set(self.vocab)) != len(self.vocab):
            raise TokenizerError("vocabulary has duplicate entries")
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)) or self.buckets[0] < 1:
            raise TokenizerError(f"buckets must be increasing positive lengths, got {self.buckets}")
        self._index = {t: i for i, t in enumerate(self.vocab)}
        self.buckets = tuple(int(b) for b in self.buckets)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def max_tokens(self) -> int:
        return self.buckets[-1]

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return self._index[UNK]

    def word_pieces(self, word: str) -> list[str]:
        """WordPiece split of one pre-tokenized word (rule 3)."""
        return list(self._word(word)[0])

    def _word(self, word: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """A word's pieces and their ids (memoized)."""
        entry = self._pieces.get(word)
        if entry is None:
            pieces = tuple(self._split(word))
            entry = (pieces, tuple(map(self._index.__getitem__, pieces)))
            if len(self._pieces) < _MEMO_LIMIT:
                self._pieces[word] = entry
        return entry

    def _chunk(self, chunk: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The pieces and ids of one whitespace-free chunk of normalized text (memoized when short)."""
        entries = [self._word(w) for w in pre_tokenize(chunk)]
        return memo_chunk(self._chunks, chunk, (tuple(chain.from_iterable(map(_first, entries))),
                                                tuple(chain.from_iterable(map(_second, entries)))))

    def _split(self, word: str) -> list[str]:
        if len(word) > self.max_word_chars:
            return [UNK]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.continuation_prefix + word[start:end]
                if piece in self._index:
                    pieces.append(piece)
                    break
                end -= 1
            if end == start:
                pieces.append(UNK)
                end = start + 1
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Normalized, pre-tokenized, WordPiece-split tokens of ``text`` (untruncated)."""
        return [p for w in pre_tokenize(normalize_text(text)) for p in self._word(w)[0]]

    def encode(self, text: str) -> Encoding:
        """Token ids of ``text``, truncated to ``max_tokens``."""
        return self.encode_normalized(normalize_text(text))

    def encode_normalized(self, normalized: str) -> Encoding:
        """:meth:`encode` of text already through ``normalize_text``."""
        return self.encode_chunks(text_chunks(normalized))

    def encode_chunks(self, chunks: list[str]) -> Encoding:
        """:meth:`encode` of normalized text given as ``text_chunks`` (whitespace separates words: each chunk's
        pieces are memoized)."""
        ids, truncated = self.chunk_ids(chunks)
        return Encoding(tuple(ids), tuple(self._joined(chunks, 0)[:len(ids)]), truncated)

    def chunk_ids(self, chunks: list[str]) -> tuple[list[int], bool]:
        """Just the ids of :meth:`encode_chunks` (truncated to ``max_tokens``) and whether they were truncated: what
        a model reads, without the token strings."""
        ids = self._joined(chunks, 1)
        if len(ids) <= self.max_tokens:
            return ids, False
        return ids[:self.max_tokens], True

    def _joined(self, chunks: list[str], part: int) -> list[Any]:
        """The chunks' memoized pieces (``part`` 0) or ids (1), in order, joined by list extends (faster than
        chaining the chunks' tuples)."""
        get, chunk = self._chunks.get, self._chunk
        out: list[Any] = []
        for c in chunks:
            out += (get(c) or chunk(c))[part]
        return out

    def bucket_for(self, n_tokens: int) -> int:
        """The smallest bucket length that holds ``n_tokens`` tokens (the largest if none does)."""
        for b in self.buckets:
            if n_tokens <= b:
                return b
        return self.buckets[-1]

    def encode_padded(self, text: str, length: int | None = None) -> np.ndarray:
        """int32[length] ids, right-padded with 0; ``length`` defaults to the smallest fitting bucket."""
        ids = self.encode(text).ids
        n = self.bucket_for(len(ids)) if length is None else length
        out = np.zeros(n, dtype=np.int32)
        out[:min(n, len(ids))] = ids[:n]
        return out

    def encode_batch(self, texts: Sequence[str], length: int | None = None) -> np.ndarray:
        """int32[B, length] ids; ``length`` defaults to the bucket of the longest text."""
        encs = [self.encode(t).ids for t in texts]
        n = length or self.bucket_for(max((len(e) for e in encs), default=0))
        out = np.zeros((len(texts), n), dtype=np.int32)
        for i, e in enumerate(encs):
            out[i, :min(n, len(e))] = e[:n]
        return out

    # --- files ---------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": self.version, "normalization": "NFKC+lowercase",
                "pre_tokenization": "latin-run | hangul-run | single other char (see taste2vec/tokenizer.py)",
                "continuation_prefix": self.continuation_prefix, "max_word_chars": self.max_word_chars,
                "pad_token": PAD, "unk_token": UNK, "buckets": list(self.buckets), "vocab": list(self.vocab)}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WordPieceTokenizer":
        if d.get("format") != FORMAT:
            raise TokenizerError(f"unknown tokenizer format {d.get('format')!r}, expected {FORMAT}")
        try:
            return cls(vocab=list(d["vocab"]), buckets=tuple(d["buckets"]),
                       continuation_prefix=d["continuation_prefix"], max_word_chars=int(d["max_word_chars"]),
                       version=str(d["version"]))
        except (KeyError, TypeError, ValueError) as e:
            raise TokenizerError(f"malformed tokenizer file: {e}") from e

    @classmethod
    def load(cls, path: str | Path) -> "WordPieceTokenizer":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise TokenizerError(f"cannot read tokenizer {path}: {e}") from e
        return cls.from_dict(d)
