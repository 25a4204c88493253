"""What the server runs: a verified bundle behind the SDK's own :class:`~taste2vec.Embedder`, where bundles come
from (one bundle, or the production version of a staged registry), and where the engine runs (a thread of the
server process, or a pool of worker processes).

The engine is the SDK embedder, unchanged: the server's vectors are the SDK's, bit for bit (same bundle bytes,
same preprocessing code, same LiteRT kernels, one batch-1 interpreter per engine). The shipped graph has batch
size 1 (per token-length bucket one signature, and one for records without context, as the phone runs them), so
a micro-batch is one ``Embedder.embed_batch`` call: every record's preprocessing, then every model run, then the
results (staged so the interpreter and the Python code stay in the CPU caches: with the faster preprocessing and
the context-free signatures, 1.90x c6fb7c0's records/s with 32-record requests at concurrency 8, the median of
nine same-sitting pairs). Batching saves the per-request hand-off to the
engine (a thread switch, or a round trip to a worker process) and lets the stages run over many records; each
vector is still the one ``embed`` gives. Batch-N signatures are not used: with dynamic int8 weights a record's
vector would depend on the other records of its batch (activations are quantized per batch; measured up to
1.7e-3 apart from batch 1). Measured alternatives (docs/server.md): batch-8 and batch-32
signatures converted from the same student (a 36 % larger bundle) made a batch 0.45 ms/record against 0.47
batch-1 on the sample-record mix (preprocessing dominated; rows spread over four length buckets), and ONNX Runtime
on the float student reaches cosine 0.99983 to the SDK on the golden records, under the 0.9999 parity bar.

Where it runs:

- :class:`ThreadRunner` (``workers=0``): one engine on one thread of the server process. The event loop and the
  engine share the GIL: about one core in all.
- :class:`ProcessRunner` (``workers=N``): N worker processes (spawned, not forked), each loading and verifying the
  bundle itself and holding its own interpreter (LiteRT per worker). The batcher keeps 2N batches in flight, one
  running and one waiting in each worker's queue, so a worker never idles while its result makes the round trip
  through the server's event loop (measured on 2 cores, 2 workers: +17 % records/s with 32-record requests at
  concurrency 8, +26 % with single records at 32, against N in flight). Records and results cross the process
  boundary pickled: a batch's vectors as one matrix and the rest as plain tuples (:class:`Packed`, about 2 us a
  record each way; validation errors travel as :class:`RecordError`).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import numpy as np

from taste2vec.bundle import BundleError, ModelBundle, check_not_older
from taste2vec.embedder import BaseOptions, EmbeddingResult, Embedder, EmbedderOptions, Timing
from taste2vec.errors import RecordValidationError, Taste2VecError
from taste2vec.registry import ModelRegistry
from taste2vec.signing import PublicKeyLike


class RecordError(NamedTuple):
    """A record's validation error as data (typed errors do not survive pickling across processes)."""

    type: str
    field: str
    message: str
    allowed: str

    @classmethod
    def of(cls, e: RecordValidationError) -> "RecordError":
        return cls(type(e).__name__, e.field, str(e), e.allowed)


Outcome = EmbeddingResult | RecordError


class EngineUnavailable(Taste2VecError):
    """The engine cannot run now (a worker process died; the pool is being restarted)."""


class Engine:
    """One loaded bundle: embeds lists of records, with a per-record outcome."""

    def __init__(self, bundle: ModelBundle, num_threads: int = 1) -> None:
        self.bundle = bundle
        # int8 vectors are made where a request asks for them (app._result_json), from these same float vectors
        self.embedder = Embedder(bundle, EmbedderOptions(BaseOptions(num_threads=num_threads), quantize=False))
        self.model_version = self.embedder.model_version

    def embed_many(self, records: Iterable[Any]) -> list[Outcome]:
        """Each record's result, or its validation error (one bad record does not fail the others)."""
        return [RecordError.of(r) if isinstance(r, RecordValidationError) else r
                for r in self.embedder.embed_batch(records, errors="return")]

    def close(self) -> None:
        self.embedder.close()


def bundle_info(bundle: ModelBundle) -> dict[str, Any]:
    """What /info shows of a bundle."""
    m = bundle.manifest
    return {"model_version": bundle.model_id, "trusted_as": bundle.trusted_as, "created": m.get("created"),
            "dim": int(m.get("embedding", {}).get("dim", 128)), "record_spec": m.get("record_spec"),
            "tokenizer": m.get("tokenizer"), "lexicon": m.get("lexicon"), "quantization": m.get("quantization"),
            "signatures": m.get("signatures", []), "files": {k: v["size"] for k, v in m.get("files", {}).items()}}


# ---------------------------------------------------------------------- sources
@dataclass(frozen=True)
class BundleSource:
    """Serve one bundle folder or zip (a reload re-reads it: a replaced folder is picked up)."""

    path: Path
    trusted_keys: tuple[PublicKeyLike, ...] = ()
    allow_unsigned: bool = False

    def describe(self) -> str:
        return f"bundle {self.path}"

    def current(self) -> str | None:
        """The version id this source would serve now (None: only loading the bundle tells)."""
        return None

    def load(self, floor: str | None = None, allow_downgrade: bool = False) -> ModelBundle:
        """The bundle, verified; older than ``floor`` (the version served) is a DowngradeError unless allowed."""
        return ModelBundle.load(self.path, trusted_keys=self.trusted_keys, allow_unsigned=self.allow_unsigned,
                                min_version=floor, allow_downgrade=allow_downgrade)


@dataclass(frozen=True)
class RegistrySource:
    """Serve the production version of ``name`` in a staged registry (``taste2vec-lifecycle promote``)."""

    root: Path
    name: str = "taste2vec-edge"
    trusted_keys: tuple[PublicKeyLike, ...] = ()
    allow_unsigned: bool = False

    def describe(self) -> str:
        return f"registry {self.root} ({self.name}, production)"

    def current(self) -> str:
        from ..lifecycle.stages import StagedRegistry

        version = StagedRegistry(self.root).production(self.name)
        if version is None:
            raise BundleError(f"{self.describe()}: no production version (promote one with taste2vec-lifecycle)")
        return f"{self.name}-{version}"

    def load(self, floor: str | None = None, allow_downgrade: bool = False) -> ModelBundle:
        """The production bundle, verified. Older than ``floor`` (the version served) only when allowed, or when
        the registry moved production back on purpose (``rollback``, or a promote with ``--allow-downgrade``)."""
        from ..lifecycle.stages import StagedRegistry

        bundle = ModelRegistry(self.root, self.trusted_keys, self.allow_unsigned).load_id(self.current())
        intended = floor is not None and StagedRegistry(self.root).downgrade_intended(self.name, bundle.version)
        check_not_older(bundle.version, floor, allow_downgrade or intended, f"{self.describe()}: {bundle.name}")
        return bundle


Source = BundleSource | RegistrySource


# ---------------------------------------------------------------------- runners
class ThreadRunner:
    """The engine on one thread of this process (``workers=0``)."""

    parallelism = 1

    def __init__(self, bundle: ModelBundle, num_threads: int = 1) -> None:
        self.bundle = bundle
        self.model_version = bundle.model_id
        self._engine = Engine(bundle, num_threads)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="taste2vec-engine")

    async def __call__(self, records: list[Any]) -> list[Outcome]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.embed_many, records)

    async def aclose(self) -> None:
        """After the batches already given to it."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.close)
        self._executor.shutdown(wait=False)


_WORKER_ENGINE: Engine | None = None


def _worker_init(packed: bytes, num_threads: int) -> None:
    global _WORKER_ENGINE
    # Ctrl-C reaches the whole process group: the server shuts its workers down itself, after their last batch
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the server established the bundle's origin before handing over these bytes (sizes and hashes are checked
    # again here; a signature that does not verify is still refused)
    _WORKER_ENGINE = Engine(ModelBundle.from_buffer(packed, allow_unsigned=True), num_threads)
    # what is loaded now lives as long as the worker: the collector need not walk it again (a worker's per-batch
    # garbage is short-lived and acyclic but for exceptions)
    gc.freeze()


def _worker_embed(records: list[Any]) -> "Packed":
    return pack_outcomes(_WORKER_ENGINE.embed_many(records))


class Packed(NamedTuple):
    """A batch's outcomes as they cross the process boundary: the vectors as one matrix (one pickled array
    rather than two per record), the rest as plain tuples; :func:`unpack_outcomes` rebuilds the results."""

    model_version: str
    embeddings: np.ndarray  # float32[n_ok, D]
    quantized: np.ndarray | None  # int8[n_ok, D]
    rows: list[tuple[Any, ...] | RecordError]  # per record: (bucket, n_tokens, attributes, warnings, timing)


def pack_outcomes(outcomes: list[Outcome]) -> Packed:
    ok = [r for r in outcomes if isinstance(r, EmbeddingResult)]
    if not ok:
        return Packed("", np.zeros((0, 0), np.float32), None, list(outcomes))
    quantized = None if ok[0].quantized_embedding is None else np.stack([r.quantized_embedding for r in ok])
    rows = [r if isinstance(r, RecordError) else (r.bucket, r.n_tokens, r.attributes, r.warnings,
                                                 (r.timing.preprocess_ms, r.timing.inference_ms, r.timing.total_ms))
            for r in outcomes]
    return Packed(ok[0].model_version, np.stack([r.embedding for r in ok]), quantized, rows)


def unpack_outcomes(p: Packed) -> list[Outcome]:
    out: list[Outcome] = []
    k = 0
    for row in p.rows:
        if isinstance(row, RecordError):
            out.append(row)
            continue
        bucket, n_tokens, attributes, warnings, timing = row
        out.append(EmbeddingResult(p.embeddings[k], None if p.quantized is None else p.quantized[k],
                                   p.model_version, Timing(*timing), bucket, n_tokens, attributes, warnings))
        k += 1
    return out


def _worker_version(_: int) -> str:
    return _WORKER_ENGINE.model_version


class ProcessRunner:
    """The engine in ``workers`` spawned processes, each with its own interpreter. Every worker is given the bytes
    the server verified (:meth:`ModelBundle.packed`), never a path: a folder that changes meanwhile cannot give the
    workers another model, or a half-written one."""

    def __init__(self, bundle: ModelBundle, workers: int, num_threads: int = 1) -> None:
        self.bundle = bundle
        self.model_version = bundle.model_id
        self.workers = workers
        self.parallelism = 2 * workers  # batches in flight: one running and one queued per worker
        self._args = (bundle.packed(), num_threads)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"), _worker_init, self._args)

    def start(self) -> None:
        """Start every worker and check it serves this runner's version (blocking; call from a thread). A worker
        that cannot start is a :class:`BundleError` (a reload answers 409 and keeps the old version)."""
        futures = [self._pool.submit(_worker_version, i) for i in range(self.workers * 2)]
        try:
            versions = {f.result(timeout=120) for f in futures}
        except (BrokenProcessPool, TimeoutError, OSError) as e:
            raise BundleError(f"engine workers for {self.model_version} did not start ({type(e).__name__}: "
                              f"{e})") from None
        if versions != {self.model_version}:
            raise BundleError(f"workers loaded {sorted(versions)}, expected {self.model_version}")

    async def __call__(self, records: list[Any]) -> list[Outcome]:
        pool = self._pool
        try:
            return unpack_outcomes(await asyncio.get_running_loop().run_in_executor(pool, _worker_embed, records))
        except BrokenProcessPool:
            # a worker died (killed, out of memory): the batches on this pool fail, the first to notice starts a
            # fresh pool for the next requests
            if self._pool is pool:
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise EngineUnavailable("an engine worker process died; the workers were restarted, retry") from None

    async def aclose(self) -> None:
        """After the batches already given to it."""
        await asyncio.to_thread(self._pool.shutdown, True)


Runner = ThreadRunner | ProcessRunner


def make_runner(source: Source, workers: int, num_threads: int = 1, floor: str | None = None,
                allow_downgrade: bool = False) -> Runner:
    """Load the source's current bundle (verified; not older than ``floor``, the version served, unless allowed) and
    start a runner for it (blocking)."""
    bundle = source.load(floor, allow_downgrade)
    if workers == 0:
        return ThreadRunner(bundle, num_threads)
    runner = ProcessRunner(bundle, workers, num_threads)
    try:
        runner.start()
    except BaseException:
        runner._pool.shutdown(wait=False, cancel_futures=True)
        raise
    return runner
