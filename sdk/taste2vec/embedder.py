"""The Taste2Vec embedder: tasting record in, 128-d taste vector out (mirrors the Android ``TasteEmbedder``).

Shaped like MediaPipe Tasks' ``TextEmbedder``::

    from taste2vec import Embedder

    with Embedder.create_default() as embedder:
        result = embedder.embed({"notes": "밝은 산미, 자스민 향", "metrics": {"acidity": 7.5}})
        other = embedder.embed({"notes": "bright acidity, jasmine"})
        print(result.embedding.shape, Embedder.cosine_similarity(result, other))

Options: ``EmbedderOptions(base_options=BaseOptions(model_asset_path=... | model_asset_buffer=...,
num_threads=...), l2_normalize=True, quantize=False)``. A model asset is a *bundle* (a folder, or a zip of one
from ``taste2vec.bundle.pack_bundle``), verified before use.

Thread safety: every thread that calls :meth:`Embedder.embed` gets its own LiteRT interpreter (created on its
first call from the same verified model bytes), so threads run in parallel and never share interpreter state;
``close()`` releases all of them. Measured in ``benchmarks/`` (per-thread interpreters vs one shared
interpreter behind a lock).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .bundle import BundleError, ModelBundle, default_bundle_path
from .errors import InvalidTypeError, OutOfRangeError, RecordValidationError, Taste2VecError
from .preprocess import ModelInputs, Preprocessor
from .records import TastingRecord
from .runtime import DELEGATES, ModelRuntimeError, TasteModel

Record = TastingRecord | Mapping[str, Any]


class EmbedderClosedError(Taste2VecError):
    """The embedder was used after ``close()``."""


@dataclass
class BaseOptions:
    """Where the model bundle comes from and how the interpreter runs.

    Attributes:
        model_asset_path: a bundle folder (``<name>-<version>/``) or a bundle ``.zip``.
        model_asset_buffer: the bytes of a bundle ``.zip`` (e.g. read from app assets).
        num_threads: LiteRT CPU threads per interpreter (>= 1).
        delegate: ``"xnnpack"`` (LiteRT's default CPU delegate, as on a phone) or ``"none"`` (LiteRT's builtin
            kernels only: slower, and vectors differ slightly: cosine >= 0.999 to XNNPACK's on the sample records). :attr:`Embedder.delegate` says which one
            the runtime applied.
        trusted_keys: the Ed25519 public keys (PEM text, PEM file paths or raw 32 bytes) whose signature a bundle
            from a path or buffer must carry; the bundle shipped inside this package is trusted as part of it.
        allow_unsigned: development only: accept unsigned bundles (and unknown keys). A signature that does not
            verify is refused regardless.
        min_version: anti-rollback: the model version the app runs now; an older bundle is refused
            (``DowngradeError``) unless ``allow_downgrade``.
        allow_downgrade: accept a bundle older than ``min_version`` (a deliberate rollback).
    """

    model_asset_path: str | Path | None = None
    model_asset_buffer: bytes | None = None
    num_threads: int = 1
    delegate: str = "xnnpack"
    trusted_keys: tuple[str | bytes | Path, ...] = ()
    allow_unsigned: bool = False
    min_version: str | None = None
    allow_downgrade: bool = False


@dataclass
class EmbedderOptions:
    """Options of :class:`Embedder`.

    Attributes:
        base_options: the model asset and interpreter threads.
        l2_normalize: re-normalize the output to exactly unit length in float64 (the graph already
            L2-normalizes; this removes the last float32 / int8-kernel rounding). False returns the graph's
            output as is.
        quantize: also return an int8 scalar-quantized copy of the vector (``round(x * 127)``; 128 bytes).
    """

    base_options: BaseOptions = field(default_factory=BaseOptions)
    l2_normalize: bool = True
    quantize: bool = False


@dataclass(frozen=True)
class Timing:
    """Wall-clock milliseconds of one ``embed`` call."""

    preprocess_ms: float
    inference_ms: float
    total_ms: float


@dataclass(frozen=True)
class EmbeddingResult:
    """One record's taste vector.

    Attributes:
        embedding: float32[128], unit length.
        quantized_embedding: int8[128] (``round(embedding * 127)``) when ``quantize`` is on, else None.
        model_version: ``<name>-<version>`` of the bundle that made it; vectors of different versions
            must not be compared.
        timing: preprocessing / inference / total milliseconds.
        bucket: the token-length signature that ran.
        n_tokens: WordPiece tokens of the notes (after truncation).
        attributes: the strongest flavour attributes the lexicon found in the notes (path -> weight, at most
            8), for instant feedback and for explaining a profile.
        warnings: what validation changed (truncated notes or tokens, dropped context snapshots).
    """

    embedding: np.ndarray
    quantized_embedding: np.ndarray | None
    model_version: str
    timing: Timing
    bucket: int
    n_tokens: int
    attributes: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (floats as Python floats, exact float32 values)."""
        return {"model_version": self.model_version, "embedding": [float(x) for x in self.embedding],
                "quantized_embedding": None if self.quantized_embedding is None else
                [int(x) for x in self.quantized_embedding],
                "bucket": self.bucket, "n_tokens": self.n_tokens, "attributes": self.attributes,
                "warnings": list(self.warnings),
                "timing_ms": {"preprocess": self.timing.preprocess_ms, "inference": self.timing.inference_ms,
                              "total": self.timing.total_ms}}


QUANT_SCALE = 127.0
STAGED_MIN = 3  # fewer records than this are embedded one by one (measured: 1 record staged is 1.14x slower, 2 even)
BATCH_CHUNK = 64  # records per stage of Embedder.embed_batch (on the sample records: 64 > 32 > 16 records/s)


def quantize_embedding(v: np.ndarray) -> np.ndarray:
    """int8 scalar quantization of a unit vector: ``round(clip(v, -1, 1) * 127)``."""
    x = np.asarray(v, np.float32) * np.float32(QUANT_SCALE)  # = clip(v, -1, 1) * 127 wherever |v| <= 1
    return np.rint(np.minimum(np.maximum(x, -QUANT_SCALE, out=x), QUANT_SCALE, out=x), out=x).astype(np.int8)


def _as_vector(x: EmbeddingResult | np.ndarray | Sequence[float], name: str) -> np.ndarray:
    if isinstance(x, EmbeddingResult):
        return x.embedding.astype(np.float64)
    try:
        v = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise InvalidTypeError(name, f"not a vector ({e})", "an EmbeddingResult or a 1-d numeric array") from e
    if v.ndim != 1 or not (np.issubdtype(v.dtype, np.number) and not np.issubdtype(v.dtype, np.bool_)):
        raise InvalidTypeError(name, f"expected a 1-d numeric vector, got shape {v.shape} dtype {v.dtype}",
                               "an EmbeddingResult or a 1-d numeric array")
    v = v.astype(np.float64) / QUANT_SCALE if v.dtype == np.int8 else v.astype(np.float64)
    if not np.isfinite(v).all():
        raise OutOfRangeError(name, "vector has NaN or infinite entries", "finite numbers")
    return v


class Embedder:
    """Embeds tasting records with a verified Taste2Vec bundle. Create with a ``create_*`` class method."""

    def __init__(self, bundle: ModelBundle, options: EmbedderOptions) -> None:
        threads = options.base_options.num_threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise OutOfRangeError("base_options.num_threads", f"got {threads!r}", "an integer >= 1", threads)
        delegate = options.base_options.delegate
        if delegate not in DELEGATES:
            raise OutOfRangeError("base_options.delegate", f"got {delegate!r}", " or ".join(DELEGATES), delegate)
        self.options = options
        self.bundle = bundle
        self.preprocessor = Preprocessor.from_bundle(bundle)
        self._model_id = bundle.model_id
        self._model_bytes = bundle.model_bytes()
        self._local = threading.local()
        self._models: list[TasteModel] = []
        self._models_lock = threading.Lock()
        self._closed = False
        first = self._model()  # load once now: a broken model fails at creation, not on first embed
        self._runtime, self._delegate = first.runtime, first.delegate
        if first.buckets != tuple(bundle.tokenizer.buckets):
            raise BundleError(f"{bundle.origin}: model buckets {first.buckets} differ from the tokenizer's "
                              f"{tuple(bundle.tokenizer.buckets)}")

    # ------------------------------------------------------------------ creation
    @classmethod
    def create_from_options(cls, options: EmbedderOptions) -> "Embedder":
        """An embedder for ``options.base_options``' model asset (exactly one of path / buffer)."""
        base = options.base_options
        if (base.model_asset_path is None) == (base.model_asset_buffer is None):
            raise ValueError("base_options: set exactly one of model_asset_path and model_asset_buffer "
                             "(or use Embedder.create_default() for the bundled model)")
        trust = {"trusted_keys": base.trusted_keys, "allow_unsigned": base.allow_unsigned,
                 "min_version": base.min_version, "allow_downgrade": base.allow_downgrade}
        bundle = ModelBundle.load(base.model_asset_path, **trust) if base.model_asset_path is not None else \
            ModelBundle.from_buffer(base.model_asset_buffer, **trust)
        return cls(bundle, options)

    @classmethod
    def create_from_model_path(cls, path: str | Path, num_threads: int = 1,
                               trusted_keys: tuple[str | bytes | Path, ...] = (),
                               allow_unsigned: bool = False) -> "Embedder":
        """An embedder with default options for the bundle at ``path`` (folder or ``.zip``; see
        :class:`BaseOptions` for ``trusted_keys`` / ``allow_unsigned``)."""
        return cls.create_from_options(EmbedderOptions(BaseOptions(model_asset_path=path, num_threads=num_threads,
                                                                   trusted_keys=trusted_keys,
                                                                   allow_unsigned=allow_unsigned)))

    @classmethod
    def create_default(cls, num_threads: int = 1, **options: Any) -> "Embedder":
        """An embedder for the bundle shipped inside this package (``taste2vec/models``)."""
        return cls.create_from_options(EmbedderOptions(
            BaseOptions(model_asset_path=default_bundle_path(), num_threads=num_threads), **options))

    # ------------------------------------------------------------------ embedding
    @property
    def model_version(self) -> str:
        return self._model_id

    @property
    def runtime(self) -> str:
        """The interpreter package in use (``ai_edge_litert``, ``tflite_runtime`` or ``tensorflow.lite``)."""
        return self._runtime

    @property
    def delegate(self) -> str:
        """The delegate the runtime applied to this embedder's interpreters, read from the loaded graph:
        ``"xnnpack"``, ``"none"`` (builtin kernels) or ``"unknown"`` (the interpreter package cannot tell)."""
        return self._delegate

    @property
    def dim(self) -> int:
        return int(self.bundle.manifest.get("embedding", {}).get("dim", 128))

    def _model(self) -> TasteModel:
        if self._closed:
            raise EmbedderClosedError("this Embedder is closed")
        m = getattr(self._local, "model", None)
        if m is None:
            try:
                base = self.options.base_options
                m = TasteModel(self._model_bytes, base.num_threads, base.delegate)
            except ModelRuntimeError as e:
                raise BundleError(f"{self.bundle.origin}: {e}") from e
            self._local.model = m
            with self._models_lock:
                self._models.append(m)
        return m

    def preprocess(self, record: Record) -> ModelInputs:
        """The model inputs of one record (validation included); what ``embed`` runs."""
        return self.preprocessor(record)

    def run(self, inputs: ModelInputs) -> np.ndarray:
        """The model's raw output float32[128] for already-preprocessed inputs (no re-normalization)."""
        return self._model().run(inputs.tensors)[0]

    def embed(self, record: Record) -> EmbeddingResult:
        """Embed one record (a :class:`TastingRecord` or a dict following the record spec).

        Raises:
            RecordValidationError: a subclass naming the field, on bad input.
            ModelRuntimeError: the model failed or gave a non-finite (or zero) vector.
            EmbedderClosedError: after ``close()``.
        """
        t0 = time.perf_counter()
        inputs = self.preprocessor(record)
        model = self._model()
        t1 = time.perf_counter()
        raw = model.run(inputs.tensors)[0]
        t2 = time.perf_counter()
        return self._result(inputs, raw, t1 - t0, t2 - t1, t2, self.attributes_of(inputs))

    def _result(self, inputs: ModelInputs, raw: np.ndarray, pre_s: float, run_s: float, t2: float,
                attributes: dict[str, float]) -> EmbeddingResult:
        """The result of one model run: ``raw`` checked and normalized; ``pre_s`` and ``run_s`` the seconds its
        preprocessing and its model run took, ``t2`` when the run ended or this result's own work began."""
        v64 = raw.astype(np.float64)
        sq = float(v64 @ v64)  # NaN or inf exactly when an element is (float32 squares cannot overflow float64)
        if not math.isfinite(sq):
            raise ModelRuntimeError(f"{self.model_version} produced a non-finite embedding")
        if self.options.l2_normalize:
            if sq == 0.0:
                raise ModelRuntimeError(f"{self.model_version} produced a zero embedding")
            vec = (v64 / math.sqrt(sq)).astype(np.float32)
        else:
            vec = raw.astype(np.float32)
        q = quantize_embedding(vec) if self.options.quantize else None
        t3 = time.perf_counter()
        timing = Timing(round(pre_s * 1e3, 4), round(run_s * 1e3, 4), round((pre_s + run_s + t3 - t2) * 1e3, 4))
        return EmbeddingResult(vec, q, self._model_id, timing, inputs.bucket, inputs.n_tokens, attributes,
                               inputs.warnings)

    def attributes_of(self, inputs: ModelInputs, k: int = 8) -> dict[str, float]:
        """The ``k`` strongest positive lexicon attributes of preprocessed inputs (path -> weight)."""
        return self.bundle.lexicon.top_attributes(inputs.tensors["lexicon"][0], k)

    def embed_batch(self, records: Iterable[Record], progress: bool = False, errors: str = "raise"
                    ) -> list[Any]:
        """Embed many records: each vector is the one :meth:`embed` gives (the model has batch size 1, as on the
        phone), made faster by working in chunks of :data:`BATCH_CHUNK` records, one stage at a time.

        Args:
            records: records or record dicts.
            progress: print a one-line progress count to stderr.
            errors: ``"raise"``: a bad record raises its typed error, with ``records[i]`` prefixed to the field
                path, and nothing is returned. ``"return"``: a bad record's error takes its place in the list
                (the field path as :meth:`embed` names it) and the other records are embedded.

        Returns:
            One :class:`EmbeddingResult` per record, in order (or, with ``errors="return"``, its
            :class:`~taste2vec.errors.RecordValidationError`).

        Raises:
            RecordValidationError: with ``errors="raise"``, the first bad record's, nested under ``records[i]``.
            ModelRuntimeError: the model failed. ValueError: ``errors`` is neither value.
            EmbedderClosedError: after ``close()``.
        """
        if errors not in ("raise", "return"):
            raise ValueError(f'errors must be "raise" or "return", got {errors!r}')
        items = list(records)
        out: list[Any] = []
        for start in range(0, len(items), BATCH_CHUNK):
            chunk = self._embed_chunk(items[start:start + BATCH_CHUNK])
            if errors == "raise":
                for i, r in enumerate(chunk):
                    if isinstance(r, RecordValidationError):
                        raise r.nest_under(f"records[{start + i}]")
            out += chunk
            if progress:
                import sys

                end = "\n" if len(out) == len(items) else ""
                print(f"\rembedded {len(out)}/{len(items)}", end=end, file=sys.stderr)
        return out

    def _embed_or_error(self, record: Record) -> Any:
        try:
            return self.embed(record)
        except RecordValidationError as e:
            return e

    def _embed_chunk(self, records: list[Record]) -> list[Any]:
        """:meth:`embed` of each record, stage by stage: every record's preprocessing (its float inputs written by
        a few numpy calls for all of them, :meth:`Preprocessor.many`), then every model run, then the results.
        The interpreter and the Python code each stay in the CPU caches for a whole stage instead of evicting each
        other per record. A record's ``timing.preprocess_ms`` is its share of the chunk's preprocessing. A bad
        record's validation error takes its place."""
        if len(records) < STAGED_MIN:  # too few to repay the stages' own cost
            return [self._embed_or_error(r) for r in records]
        model, clock = self._model(), time.perf_counter
        t0 = clock()
        staged = self.preprocessor.many(records)
        pre_s = (clock() - t0) / len(records)
        run, ran = model.run, []
        for s in staged:
            if not isinstance(s, RecordValidationError):
                t1 = clock()
                s = (s, run(s.tensors)[0], pre_s, clock() - t1)
            ran.append(s)
        ok = [s for s in staged if not isinstance(s, RecordValidationError)]
        t2 = clock()
        attributes = iter(self.bundle.lexicon.top_attributes_many(
            np.concatenate([x.tensors["lexicon"] for x in ok]))) if ok else iter(())
        share = (clock() - t2) / max(1, len(ok))  # each record's part of the attribute pass
        result = self._result
        return [s if isinstance(s, RecordValidationError) else result(*s, clock() - share, next(attributes))
                for s in ran]

    @staticmethod
    def cosine_similarity(u: EmbeddingResult | np.ndarray | Sequence[float],
                          v: EmbeddingResult | np.ndarray | Sequence[float]) -> float:
        """Cosine similarity of two embeddings (results, float vectors or int8-quantized vectors)."""
        a, b = _as_vector(u, "u"), _as_vector(v, "v")
        if a.shape != b.shape:
            raise ValueError(f"embeddings have different sizes: {a.shape[0]} and {b.shape[0]}")
        if isinstance(u, EmbeddingResult) and isinstance(v, EmbeddingResult) and u.model_version != v.model_version:
            raise ValueError(f"embeddings come from different models ({u.model_version} vs {v.model_version}) "
                             "and are not comparable")
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        if na == 0.0 or nb == 0.0:
            raise ValueError("cannot compute cosine similarity with a zero vector")
        return float(a @ b / (na * nb))

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release every interpreter; later calls raise :class:`EmbedderClosedError`. Idempotent."""
        self._closed = True
        with self._models_lock:
            self._models.clear()
        self._local = threading.local()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Embedder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Embedder({self.model_version}, threads={self.options.base_options.num_threads}, closed={self._closed})"
