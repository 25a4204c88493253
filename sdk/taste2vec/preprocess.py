"""Record -> the exact tensors a Taste2Vec bundle's model takes (pure Python + numpy).

This is the whole on-device preprocessing, driven by a bundle's files only: the record spec (validation,
metric order, context encoding), ``tokenizer.json`` (WordPiece ids, length buckets) and
``sensory_lexicon.json`` (the lexicon vector). The conversion toolkit validates every model with these same
steps, and ``golden_outputs.json`` in a bundle records what they produced there; the Kotlin port must match
them too (see :mod:`taste2vec.golden`).

    pre = Preprocessor.from_bundle(ModelBundle.load(path))
    inputs = pre({"notes": "bright, jasmine", "metrics": {"acidity": 7.5}})
    inputs.tensors["token_ids"].shape   # (1, 16): the smallest bucket that holds the tokens
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .errors import RecordValidationError
from .features import FeatureExtractor
from .lexicon import SensoryLexicon
from .records import TastingRecord
from .spec import RecordSpec
from .tokenizer import WordPieceTokenizer

if TYPE_CHECKING:
    from .bundle import ModelBundle

INPUT_NAMES = ("token_ids", "lexicon", "metrics", "metrics_mask", "context", "context_mask")


@dataclass(frozen=True)
class ModelInputs:
    """One record's model inputs (each tensor has a leading batch dimension of 1) and how they were made.

    Attributes:
        tensors: ``token_ids`` int32[1, bucket], ``lexicon`` float32[1, L], ``metrics`` / ``metrics_mask``
            float32[1, M], ``context`` float32[1, S, C], ``context_mask`` float32[1, S].
        bucket: the token-length signature these tensors are for.
        n_tokens: how many WordPiece tokens the notes have (after truncation).
        tokens_truncated: the notes had more tokens than the largest bucket holds.
        warnings: what validation and tokenization changed (truncated notes, dropped snapshots, tokens).
        tokens: the WordPiece tokens themselves (after truncation), worked out when read: the model reads only
            their ids.
    """

    tensors: dict[str, np.ndarray]
    bucket: int
    n_tokens: int
    tokens_truncated: bool
    warnings: tuple[str, ...]
    _pieces: Callable[[], tuple[str, ...]] = field(repr=False, compare=False)

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._pieces()


class Preprocessor:
    """Turns a :class:`TastingRecord` or a spec-following dict into :class:`ModelInputs`. Thread-safe."""

    def __init__(self, spec: RecordSpec, tokenizer: WordPieceTokenizer, lexicon: SensoryLexicon) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        self.lexicon = lexicon
        self._features = FeatureExtractor(lexicon, spec)
        # each float input's columns in an assembled buffer row (FeatureExtractor.layout), and the context's shape
        self._cuts = tuple((k, slice(s, e)) for k, (s, e) in self._features.layout.items())
        self._context_shape = (1, spec.context_max_steps, spec.context_width)

    @classmethod
    def from_bundle(cls, bundle: "ModelBundle") -> "Preprocessor":
        return cls(bundle.spec, bundle.tokenizer, bundle.lexicon)

    def __call__(self, record: TastingRecord | Mapping[str, Any]) -> ModelInputs:
        a = self._features.assemble(record)
        return self._inputs(a.warnings, a.chunks, a.buffer)

    def many(self, records: Sequence[TastingRecord | Mapping[str, Any]]) -> list[ModelInputs | RecordValidationError]:
        """Each record's :class:`ModelInputs` (the tensors ``__call__`` gives, value for value), or its validation
        error in its place. The float inputs of all the records are written into one buffer by a few numpy calls
        (a row each; every record's tensors are views of its row).

        Raises:
            Nothing for a bad record: its :class:`~taste2vec.errors.RecordValidationError` is returned in its place.
        """
        fe, out = self._features, []
        for r in records:
            try:
                out.append(fe.entries(r))
            except RecordValidationError as e:
                out.append(e)
        ok = [e for e in out if not isinstance(e, RecordValidationError)]
        buf = fe.buffer_many(ok)
        rows = iter(range(len(ok)))
        return [e if isinstance(e, RecordValidationError) else
                self._inputs(e.warnings, e.chunks, buf[(i := next(rows)):i + 1]) for e in out]

    def _inputs(self, warnings: tuple[str, ...], chunks: list[str], buf: np.ndarray) -> ModelInputs:
        """The model inputs of a validated record from what validation changed (``warnings``), its chunks and its
        float32[1, N] buffer row."""
        token_ids, truncated = self.tokenizer.chunk_ids(chunks)
        n = len(token_ids)
        bucket = self.tokenizer.bucket_for(n)
        ids = np.zeros((1, bucket), dtype=np.int32)
        ids[0, :n] = token_ids
        if truncated:
            warnings += (f"notes: tokenized text cut to the model's {self.tokenizer.max_tokens} tokens",)
        tensors = {"token_ids": ids}
        for name, cut in self._cuts:
            tensors[name] = buf[:, cut]
        tensors["context"] = tensors["context"].reshape(self._context_shape)
        return ModelInputs(tensors, bucket, n, truncated, warnings, partial(_tokens, self.tokenizer, chunks))


def _tokens(tokenizer: WordPieceTokenizer, chunks: list[str]) -> tuple[str, ...]:
    return tokenizer.encode_chunks(chunks).tokens
