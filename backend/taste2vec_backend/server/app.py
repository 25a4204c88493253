"""The HTTP API (Starlette): the SDK's embed / similar / recommend behind micro-batched routes.

    POST /embed       {"records": [record, ...], "quantize": false} | {"record": record} | [record, ...]
    POST /similar     {"a": record, "b": record} | {"a": record, "k": 5, "exclude": [item id, ...]}
    POST /recommend   {"profile": {...}} and/or {"liked": [record | item id], "disliked": [...],
                       "ratings": [{"item": id | "record": record, "stars": 1..5}]}, "k", "diversity", "exclude"
    GET  /health      200 when a model is loaded (liveness + readiness), 503 otherwise; never needs the API key
    GET  /info        the served manifest (version, record spec, signatures), limits, batching
    GET  /metrics     Prometheus text format
    POST /admin/reload  swap to the source's current bundle (a registry's production version) without dropping
                        requests

Errors are JSON ``{"error": {"type", "message", "field"?, "allowed"?}}``: a record that breaks the record spec is
422 naming the field (``records[3].metrics.acidity``); a body over the byte limit or more records than allowed is
413; a full queue is 429 with ``Retry-After``; a missing or wrong API key is 401. Every response that carries
vectors names the model version that made them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from taste2vec.bundle import DowngradeError
from taste2vec.curation import Catalog, recommend
from taste2vec.embedder import EmbeddingResult, quantize_embedding
from taste2vec.errors import Taste2VecError
from taste2vec.fileio import MAX_JSON_DEPTH, json_depth
from taste2vec.profile import RATING_MAX, RATING_MIN, ProfileError, TasteProfile

from .batcher import MicroBatcher, Overloaded
from .engine import EngineUnavailable, RecordError, Runner, Source, bundle_info, make_runner
from .metrics import ServerMetrics

log = logging.getLogger("taste2vec.server")
CPU_SLOTS = 2  # request threads for CPU work (profiles): the engine's workers have the other cores
CPU_QUEUE = 64  # requests waiting for a slot before new ones are refused (429)
INLINE_PARSE_BYTES = 256 << 10  # bodies up to this size are parsed on the event loop (well under a millisecond)


@dataclass
class ServerConfig:
    """Limits and behaviour of one server.

    Attributes:
        max_records: records per request (/embed, and records inside /similar and /recommend); more is 413.
        max_body_bytes: request body size; more is 413 (checked on Content-Length and while reading).
        max_batch: records per engine call when batching.
        max_wait_ms: how long an idle engine waits for more requests before running a batch (0: at once).
        max_queue: records queued or running; a request that would exceed it is 429.
        batching: False runs every request as its own engine call (the load test's baseline).
        workers: engine worker processes (each its own interpreter); 0 runs the engine on a thread of the server
            process.
        api_key: when set, every route but /health needs it (``X-API-Key`` or ``Authorization: Bearer``).
        num_threads: LiteRT threads of the engine's interpreter.
        catalogs: catalog files; the one embedded with the served model version backs /similar's catalog search
            and /recommend (the SDK's demo catalog when empty).
        watch_interval_s: poll the source for a new version every this many seconds (None: only /admin/reload).
        max_profile_events: buffered events a /recommend profile may carry (its refit grows faster than
            quadratically: 1,024 events cost ~70 ms of CPU, 4,096 over a second); more is 413.
        allow_downgrade: let a reload move to an older version than the one served (anti-rollback refuses it
            otherwise, but for a registry whose production was moved back on purpose: ``rollback``).
        max_concurrent_requests: inference requests (/embed, /similar, /recommend, /v1/embeddings) answered at
            once; one more is 429 with ``Retry-After`` (with ``max_queue``, the server's backpressure).
    """

    max_records: int = 256
    max_body_bytes: int = 4 << 20
    max_batch: int = 64
    max_wait_ms: float = 0.0
    max_queue: int = 4096
    batching: bool = True
    workers: int = 0
    api_key: str | None = field(default=None, repr=False)
    num_threads: int = 1
    catalogs: tuple[Path, ...] = ()
    watch_interval_s: float | None = None
    max_profile_events: int = 1024
    allow_downgrade: bool = False
    max_concurrent_requests: int = 512

    def __post_init__(self) -> None:
        checks = {"max_records": (1, 100_000), "max_body_bytes": (1024, 1 << 30), "max_batch": (1, 4096),
                  "max_queue": (1, 1_000_000), "num_threads": (1, 64), "workers": (0, 64),
                  "max_profile_events": (1, 4096), "max_concurrent_requests": (1, 100_000)}
        for name, (lo, hi) in checks.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name}: got {v!r}, allowed an integer in [{lo}, {hi}]")
        if not (isinstance(self.max_wait_ms, (int, float)) and 0 <= self.max_wait_ms <= 1000):
            raise ValueError(f"max_wait_ms: got {self.max_wait_ms!r}, allowed a number in [0, 1000]")
        if self.max_records > self.max_queue:
            raise ValueError(f"max_records ({self.max_records}) must not exceed max_queue ({self.max_queue})")
        if self.api_key is not None and len(self.api_key) < 16:
            raise ValueError("api_key: at least 16 characters")
        if self.watch_interval_s is not None and not 0.05 <= self.watch_interval_s <= 86400:
            raise ValueError(f"watch_interval_s: got {self.watch_interval_s!r}, allowed [0.05, 86400] seconds")

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d["api_key"] = self.api_key is not None
        d["catalogs"] = [str(p) for p in self.catalogs]
        return d


class Problem(Exception):
    """An HTTP error response with a typed JSON body."""

    def __init__(self, status: int, type_: str, message: str, field: str | None = None, allowed: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.field, self.allowed = status, type_, message, field, allowed
        self.headers = dict(headers or {})

    def response(self) -> Response:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        if self.allowed:
            err["allowed"] = self.allowed
        return Response(orjson.dumps({"error": err}), self.status, self.headers, "application/json")


@dataclass
class RequestTiming:
    """Where one request's time went, summed over its records (seconds): waiting for an engine, validation and
    preprocessing, model runs. Reported as ``x-queue-time`` / ``x-preprocess-time`` / ``x-inference-time`` /
    ``x-total-time`` headers (milliseconds, as text-embeddings-inference does) and per-route histograms."""

    queue: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    used: bool = False


_TIMING: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar("taste2vec_timing", default=None)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json")


def _invalid(field: str, message: str, allowed: str | None = None) -> Problem:
    return Problem(422, "InvalidRequest", f"{field}: {message}", field, allowed)


def _record_problem(e: RecordError, prefix: str) -> Problem:
    path = f"{prefix}.{e.field}" if e.field else prefix
    return Problem(422, e.type, f"{prefix}.{e.message}" if e.field else f"{prefix}: {e.message}", path,
                   e.allowed or None)


def parse_body(data: bytes) -> Any:
    """A request body as JSON: standard JSON only (NaN / Infinity, bad UTF-8, integers over 64 bits refused),
    nested at most ``MAX_JSON_DEPTH`` levels. orjson parses without Python recursion, several times faster than
    the standard library on record lists; the depth walk keeps the same bound as every other JSON the SDK reads."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise _invalid("body", f"not valid JSON ({e})", "a JSON document") from None
    if json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _invalid("body", f"nested deeper than {MAX_JSON_DEPTH} levels", "a JSON document")
    return value


def _int_param(body: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    v = body.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _invalid(name, f"got {v!r}", f"an integer in [{lo}, {hi}]")
    return v


def _ids(body: Mapping[str, Any], name: str, limit: int) -> list[str]:
    """A list of item ids; a refusal names the list or the first bad element."""
    v = body.get(name, [])
    allowed = f"a list of at most {limit} item ids (strings of 1-256 characters)"
    if not isinstance(v, list):
        raise _invalid(name, f"expected a list of item ids, got {type(v).__name__}", allowed)
    if len(v) > limit:
        raise _invalid(name, f"{len(v)} item ids, more than {limit}", allowed)
    for i, x in enumerate(v):
        if not isinstance(x, str) or not 0 < len(x) <= 256:
            got = f"a string of {len(x)} characters" if isinstance(x, str) else type(x).__name__
            raise _invalid(f"{name}[{i}]", f"expected an item id, got {got}", allowed)
    return v


def _result_json(i: int, r: EmbeddingResult, quantize: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"index": i, "embedding": r.embedding, "bucket": r.bucket, "n_tokens": r.n_tokens,
                         "attributes": r.attributes, "warnings": list(r.warnings)}
    if quantize:
        d["quantized_embedding"] = quantize_embedding(r.embedding)  # what EmbedderOptions(quantize=True) gives
    return d


class ServerState:
    """The served engine (a runner), the batcher in front of it, the catalogs, the metrics, and reloads."""

    def __init__(self, source: Source, config: ServerConfig, runner: Runner | None = None) -> None:
        self.source, self.config, self.runner = source, config, runner
        self.metrics = ServerMetrics()
        in_flight = 2 * config.workers or 1  # see ProcessRunner: one batch running and one queued per worker
        self.batcher = MicroBatcher(self._run, in_flight, config.max_batch, config.max_wait_ms,
                                    config.max_queue, config.batching, self.metrics.batch_size.observe)
        self.metrics.queue_depth.set_function(lambda: self.batcher.queued + self.batcher.in_flight)
        self.catalogs = self._load_catalogs(config.catalogs)
        self._reload_lock: asyncio.Lock | None = None
        self._watch: asyncio.Task | None = None
        self.source_error: str | None = None  # why the last look at the source failed (None: it did not)
        # request work that is CPU, not I/O (profiles): threads off the event loop, a bounded number pending
        self._cpu_pool = ThreadPoolExecutor(CPU_SLOTS, thread_name_prefix="taste2vec-cpu")
        self._cpu_pending = 0
        self.active = 0  # inference requests being answered
        if runner is not None:
            self.metrics.serving(None, runner.model_version)

    @staticmethod
    def _load_catalogs(paths: tuple[Path, ...]) -> dict[str, Catalog]:
        cats = [Catalog.load(p) for p in paths] if paths else [Catalog.default()]
        return {c.model_version: c for c in cats}

    def _run(self, records: list[Any]) -> Awaitable[list[Any]]:
        # the runner current when the batch starts runs all of it (a reload swaps between batches)
        return self.runner(records)

    def _make_runner(self, floor: str | None = None) -> Runner:
        return make_runner(self.source, self.config.workers, self.config.num_threads, floor,
                           self.config.allow_downgrade)

    # ------------------------------------------------------------------ lifecycle
    async def startup(self) -> None:
        self._reload_lock = asyncio.Lock()
        if self.runner is None:
            self.runner = await asyncio.to_thread(self._make_runner)
            self.metrics.serving(None, self.runner.model_version)
        self.batcher.start()
        if self.config.watch_interval_s:
            self._watch = asyncio.get_running_loop().create_task(self._watch_source(), name="taste2vec-watch")
        log.info("serving %s from %s (batching %s, %s)", self.runner.model_version, self.source.describe(),
                 "on" if self.config.batching else "off",
                 f"{self.config.workers} worker processes" if self.config.workers else "engine thread")

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # the watcher reports its own failures
                await self._watch
        await self.batcher.stop()
        self._cpu_pool.shutdown(wait=False, cancel_futures=True)
        if self.runner is not None:
            await self.runner.aclose()

    async def reload(self) -> dict[str, Any]:
        """Load the source's current bundle and swap to it; batches already queued on the old runner finish there,
        then it is closed."""
        async with self._reload_lock:
            old = self.runner
            try:
                target = await asyncio.to_thread(self.source.current)
                new = None if target == old.model_version else \
                    await asyncio.to_thread(self._make_runner, old.bundle.version)
            except DowngradeError as e:  # the source holds an older version: kept, reported, not a broken source
                self.metrics.reloads.labels("downgrade_refused").inc()
                raise Problem(409, "DowngradeRefused", f"kept {old.model_version}: {e}") from None
            except Taste2VecError as e:
                self.metrics.reloads.labels("refused").inc()
                self.source_failed(e)
                raise Problem(409, "ReloadRefused", f"kept {old.model_version}: {e}") from None
            self.source_looked()
            if new is None or new.model_version == old.model_version:
                if new is not None:
                    await new.aclose()
                self.metrics.reloads.labels("unchanged").inc()
                return {"reloaded": False, "model_version": old.model_version}
            self.runner = new
            self.metrics.serving(old.model_version, new.model_version)
            self.metrics.reloads.labels("swapped").inc()
            await old.aclose()
            log.info("reloaded: %s -> %s", old.model_version, new.model_version)
            return {"reloaded": True, "model_version": new.model_version, "previous": old.model_version}

    def source_failed(self, e: Exception) -> None:
        """The source could not be read or its bundle was refused: keep serving, say so in /health and /metrics."""
        message = f"{type(e).__name__}: {e}"
        if message != self.source_error:
            log.warning("model source %s: %s; still serving %s", self.source.describe(), message,
                        self.runner.model_version if self.runner else None)
        self.source_error = message
        self.metrics.source_ok.set(0)
        self.metrics.source_errors.labels(type(e).__name__).inc()

    def source_looked(self) -> None:
        if self.source_error is not None:
            log.info("model source %s readable again", self.source.describe())
        self.source_error = None
        self.metrics.source_ok.set(1)

    async def _watch_source(self) -> None:
        """Poll the source; nothing it does ends the watch (a damaged registry is reported and retried)."""
        while True:
            await asyncio.sleep(self.config.watch_interval_s)
            try:
                target = await asyncio.to_thread(self.source.current)
                if target is not None and target != self.runner.model_version:
                    await self.reload()
                else:
                    self.source_looked()
            except Problem:
                pass  # reload() already recorded why
            except Taste2VecError as e:
                self.source_failed(e)
            except Exception as e:  # a bug must not stop future reloads: logged with its traceback
                log.exception("watch: unexpected error")
                self.source_failed(e)

    # ------------------------------------------------------------------ helpers of the routes
    def check_auth(self, request: Request) -> None:
        key = self.config.api_key
        if key is None:
            return
        given = request.headers.get("x-api-key")
        if given is None:
            auth = request.headers.get("authorization", "")
            given = auth[7:] if auth[:7].lower() == "bearer " else None
        if given is None or not hmac.compare_digest(given.encode("utf-8", "replace"), key.encode()):
            raise Problem(401, "Unauthorized", "missing or wrong API key (header X-API-Key or Authorization: Bearer)",
                          headers={"WWW-Authenticate": "Bearer"})

    async def body(self, request: Request) -> Any:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Problem(413, "PayloadTooLarge", f"request body of {declared} bytes; the limit is {limit}",
                          "body", f"at most {limit} bytes")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Problem(413, "PayloadTooLarge", f"request body over the {limit}-byte limit", "body",
                                  f"at most {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise Problem(400, "ClientDisconnected", "the client went away while sending the body") from None
        data = b"".join(chunks)
        if not data:
            raise _invalid("body", "empty request body", "a JSON document")
        # a large body (a profile with its events) is parsed and walked on a CPU thread, not on the event loop
        return parse_body(data) if len(data) <= INLINE_PARSE_BYTES else await self.cpu(parse_body, data)

    async def cpu(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run CPU-bound request work on one of CPU_SLOTS threads, so the event loop (and /health) never waits for
        it; with CPU_QUEUE requests already waiting, a new one is 429. A request whose client left still finishes
        on its thread and only then frees its place (threads cannot be interrupted)."""
        if self._cpu_pending >= CPU_SLOTS + CPU_QUEUE:
            raise Problem(429, "Overloaded", f"{self._cpu_pending} requests are waiting for CPU work",
                          headers={"Retry-After": "1"})
        self._cpu_pending += 1
        loop = asyncio.get_running_loop()
        job = self._cpu_pool.submit(fn, *args)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._cpu_done))
        return await asyncio.wrap_future(job)

    def _cpu_done(self) -> None:
        self._cpu_pending -= 1

    def enter_request(self) -> bool:
        """Count an inference request in; 429 beyond ``max_concurrent_requests``."""
        if self.active >= self.config.max_concurrent_requests:
            raise Problem(429, "Overloaded", f"{self.active} requests are being answered; the limit is "
                          f"{self.config.max_concurrent_requests}", headers={"Retry-After": "1"})
        self.active += 1
        self.metrics.active.set(self.active)
        return True

    def leave_request(self) -> None:
        self.active -= 1
        self.metrics.active.set(self.active)

    def _check_count(self, n: int, what: str) -> None:
        if n > self.config.max_records:
            raise Problem(413, "TooManyRecords", f"{what}: {n} records; the limit is {self.config.max_records} "
                          "per request", what, f"at most {self.config.max_records} records")

    async def embed(self, records: list[Any], prefix: Callable[[int], str]) -> list[EmbeddingResult]:
        """Embed records through the batcher; the first invalid record becomes a 422 naming its field."""
        try:
            out, waited = await self.batcher.submit_timed(records)
        except Overloaded as e:
            raise Problem(429, "Overloaded", str(e), headers={"Retry-After": str(e.retry_after)}) from None
        except EngineUnavailable as e:
            raise Problem(503, "EngineUnavailable", str(e), headers={"Retry-After": "1"}) from None
        timing = _TIMING.get()
        if timing is not None:
            timing.used = True
            timing.queue += waited
            for r in out:
                if not isinstance(r, RecordError):
                    timing.preprocess += r.timing.preprocess_ms / 1e3
                    timing.inference += r.timing.inference_ms / 1e3
        for i, r in enumerate(out):
            if isinstance(r, RecordError):
                raise _record_problem(r, prefix(i))
        return out

    def catalog_for(self, version: str) -> Catalog:
        cat = self.catalogs.get(version)
        if cat is None:
            raise Problem(409, "CatalogUnavailable", f"no catalog embedded with {version} (have: "
                          f"{sorted(self.catalogs) or 'none'}); start the server with --catalog FILE made by "
                          "taste2vec-convert catalog for this model")
        return cat


# ---------------------------------------------------------------------- routes
async def _embed(state: ServerState, request: Request) -> Response:
    body = await state.body(request)
    quantize = False
    if isinstance(body, list):
        records, prefix = body, "records"
    elif isinstance(body, dict):
        unknown = set(body) - {"record", "records", "quantize"}
        if unknown:
            raise _invalid(sorted(unknown)[0], "unknown field", "record, records, quantize")
        if ("record" in body) == ("records" in body):
            raise _invalid("body", "give exactly one of 'record' and 'records'",
                           '{"records": [...]} or {"record": {...}}')
        quantize = body.get("quantize", False)
        if not isinstance(quantize, bool):
            raise _invalid("quantize", f"got {quantize!r}", "true or false")
        if "record" in body:
            records, prefix = [body["record"]], "record"
        else:
            records, prefix = body["records"], "records"
            if not isinstance(records, list):
                raise _invalid("records", f"expected a list, got {type(records).__name__}", "a list of records")
    else:
        raise _invalid("body", f"expected an object or a list, got {type(body).__name__}",
                       '{"records": [...]}, {"record": {...}} or [...]')
    if not records:
        raise _invalid(prefix, "no records", "at least one record")
    state._check_count(len(records), prefix)
    name = (lambda i: "record") if prefix == "record" else (lambda i: f"records[{i}]")
    results = await state.embed(records, name)
    state.metrics.records.labels("/embed").inc(len(results))
    return _json({"model_version": results[0].model_version, "dim": int(results[0].embedding.shape[0]),
                  "data": [_result_json(i, r, quantize) for i, r in enumerate(results)]})


async def _v1_embeddings(state: ServerState, request: Request) -> Response:
    """OpenAI's embeddings API (``POST /v1/embeddings``), as text-embeddings-inference and Infinity offer it:
    ``input`` is a string (tasting notes), a record, or a list of either; ``encoding_format`` ``float`` or
    ``base64`` (little-endian float32); ``model``, when given, must name the served model; ``usage`` counts the
    notes' WordPiece tokens."""
    body = _object(await state.body(request), {"input", "model", "encoding_format", "dimensions", "user"})
    if "input" not in body:
        raise _invalid("input", "missing", "a string, a record, or a list of strings or records")
    inp = body["input"]
    items = inp if isinstance(inp, list) else [inp]
    if not items:
        raise _invalid("input", "no inputs", "at least one string or record")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise _invalid("encoding_format", f"got {fmt!r}", "float or base64")
    served = state.runner.model_version
    model = body.get("model")
    if model is not None and model not in (served, state.runner.bundle.name):
        raise Problem(404, "ModelNotFound", f"model {model!r} is not served here (serving {served})", "model", served)
    dims = body.get("dimensions")
    dim = state.runner.bundle.manifest.get("embedding", {}).get("dim", 128)
    if dims is not None and dims != dim:
        raise _invalid("dimensions", f"got {dims!r}", f"{dim} (the model's; vectors are not truncated)")
    state._check_count(len(items), "input")
    records = [{"notes": x} if isinstance(x, str) else x for x in items]
    name = (lambda i: f"input[{i}]") if isinstance(inp, list) else (lambda i: "input")
    results = await state.embed(records, name)
    state.metrics.records.labels("/v1/embeddings").inc(len(results))

    def encode(v: np.ndarray) -> Any:
        return base64.b64encode(v.astype("<f4").tobytes()).decode() if fmt == "base64" else v

    tokens = sum(r.n_tokens for r in results)
    return _json({"object": "list", "model": results[0].model_version,
                  "data": [{"object": "embedding", "index": i, "embedding": encode(r.embedding)}
                           for i, r in enumerate(results)],
                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _object(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("body", f"expected an object, got {type(body).__name__}", "a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise _invalid(sorted(unknown)[0], "unknown field", ", ".join(sorted(allowed)))
    return body


async def _similar(state: ServerState, request: Request) -> Response:
    body = _object(await state.body(request), {"a", "b", "k", "exclude"})
    if "a" not in body:
        raise _invalid("a", "missing", "a record")
    if "b" in body:
        if "k" in body or "exclude" in body:
            raise _invalid("k", "k / exclude search the catalog; not with b", "either b, or k / exclude")
        ra, rb = await state.embed([body["a"], body["b"]], lambda i: "ab"[i])
        return _json({"model_version": ra.model_version,
                      "cosine_similarity": round(float(np.dot(ra.embedding.astype(np.float64),
                                                              rb.embedding.astype(np.float64))), 6)})
    k = _int_param(body, "k", 5, 1, 100)
    exclude = set(_ids(body, "exclude", 10_000))
    (ra,) = await state.embed([body["a"]], lambda i: "a")
    cat = state.catalog_for(ra.model_version)
    hits = cat.similar(ra.embedding, k, exclude)
    return _json({"model_version": ra.model_version, "catalog_items": len(cat),
                  "similar": [{"item": it.to_dict(), "cosine_similarity": round(s, 4)} for it, s in hits]})


async def _recommend(state: ServerState, request: Request) -> Response:
    body = _object(await state.body(request),
                   {"profile", "liked", "disliked", "ratings", "k", "diversity", "exclude"})
    k = _int_param(body, "k", 5, 1, 100)
    diversity = body.get("diversity", 0.0)
    if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
        raise _invalid("diversity", f"got {diversity!r}", "a number in [0, 1]")
    exclude = set(_ids(body, "exclude", 10_000))
    # feedback events: (where, item id or record, kwargs)
    events: list[tuple[str, Any, dict[str, Any]]] = []
    for name, liked in (("liked", True), ("disliked", False)):
        items = body.get(name, [])
        if not isinstance(items, list):
            raise _invalid(name, f"expected a list, got {type(items).__name__}", "a list of records or item ids")
        events += [(f"{name}[{i}]", x, {"liked": liked}) for i, x in enumerate(items)]
    ratings = body.get("ratings", [])
    if not isinstance(ratings, list):
        raise _invalid("ratings", f"expected a list, got {type(ratings).__name__}",
                       'a list of {"item": id | "record": record, "stars": 1..5}')
    for i, r in enumerate(ratings):
        where = f"ratings[{i}]"
        if not isinstance(r, dict) or set(r) - {"item", "record", "stars"} or ("item" in r) == ("record" in r):
            raise _invalid(where, "malformed rating", '{"item": id, "stars": 1..5} or {"record": {...}, "stars": ...}')
        stars = r.get("stars")
        if isinstance(stars, bool) or not isinstance(stars, (int, float)) or not RATING_MIN <= stars <= RATING_MAX:
            raise _invalid(f"{where}.stars", f"got {stars!r}", f"a number in [{RATING_MIN:g}, {RATING_MAX:g}]")
        events.append((where, r.get("item", r.get("record")), {"rating": float(stars)}))
    state._check_count(len(events), "feedback")
    if "profile" not in body and not events:
        raise _invalid("body", "no profile and no feedback", "profile, liked, disliked or ratings")
    for where, x, _ in events:
        if not isinstance(x, (str, dict)):
            raise _invalid(where, f"expected a record or an item id, got {type(x).__name__}", "a record or an item id")
    records = [(where, x) for where, x, _ in events if isinstance(x, dict)]
    results = await state.embed([x for _, x in records], lambda i: records[i][0]) if records else []
    version = results[0].model_version if results else state.runner.model_version
    cat = state.catalog_for(version)
    return _json(await state.cpu(_recommend_work, state.config, body, events, results, cat, k, diversity, exclude))


def _recommend_work(config: ServerConfig, body: dict[str, Any], events: list[tuple[str, Any, dict[str, Any]]],
                    results: list[EmbeddingResult], cat: Catalog, k: int, diversity: float,
                    exclude: set[str]) -> dict[str, Any]:
    """The profile half of /recommend (CPU: parsing, one refit, the picks), run off the event loop."""
    profile = _request_profile(body, config.max_profile_events)
    if profile is None:
        profile = TasteProfile(cat.embeddings.shape[1], model_version=cat.model_version)
    embedded = iter(results)
    try:
        with profile.batch():  # one refit for all the request's feedback
            for where, x, kw in events:
                if isinstance(x, str):
                    if x not in cat:
                        raise _invalid(where, f"unknown catalog item {x!r}", "an id of the served catalog")
                    profile.add_feedback(cat.embedding(x), item_id=x, attributes=cat.item(x).attributes, **kw)
                else:
                    r = next(embedded)
                    profile.add_feedback(r, attributes=r.attributes, **kw)
        rated = {f.item_id for f in profile.buffer if f.item_id}
        picks = recommend(profile, cat, k=k, exclude=exclude | rated, diversity=float(diversity))
    except Taste2VecError as e:  # a profile of another model or size, a catalog that does not fit it
        raise Problem(409, type(e).__name__, str(e)) from None
    return {"model_version": cat.model_version, "feedback_events": profile.n_events,
            "top_attributes": [a for a, _ in profile.top_attributes()],
            "recommendations": [p.to_dict() for p in picks]}


def _request_profile(body: dict[str, Any], max_events: int) -> TasteProfile | None:
    """The request's saved profile, bounded before it is parsed (its refit is the costly part)."""
    if "profile" not in body:
        return None
    raw = body["profile"]
    buffered = raw.get("buffer") if isinstance(raw, dict) else None
    if isinstance(buffered, list) and len(buffered) > max_events:
        raise Problem(413, "ProfileTooLarge", f"profile.buffer: {len(buffered)} events; the limit is {max_events} "
                      "per request", "profile.buffer", f"at most {max_events} buffered events")
    try:
        return TasteProfile.from_dict(raw)
    except ProfileError as e:
        raise _invalid("profile", str(e), "a taste profile (taste2vec.profile/1) as the SDK writes it") from None


async def _health(state: ServerState, request: Request) -> Response:
    if state.runner is None:
        return _json({"status": "loading", "ready": False}, 503)
    body: dict[str, Any] = {"status": "ok", "ready": True, "model_version": state.runner.model_version}
    if state.source_error is not None:  # still serving the loaded model; the source needs attention
        body.update(status="degraded", source_error=state.source_error)
    return _json(body)


async def _info(state: ServerState, request: Request) -> Response:
    runner = state.runner
    cat = state.catalogs.get(runner.model_version)
    model = {**bundle_info(runner.bundle), "engine": type(runner).__name__, "parallelism": runner.parallelism}
    return _json({"model": model, "source": state.source.describe(), "server": state.config.public(),
                  "catalog": None if cat is None else {"model_version": cat.model_version, "items": len(cat)},
                  "routes": [r.path for r in request.app.routes]})


async def _metrics(state: ServerState, request: Request) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


async def _reload(state: ServerState, request: Request) -> Response:
    return _json(await state.reload())


def _endpoint(state: ServerState, route: str, handler: Callable[[ServerState, Request], Awaitable[Response]],
              auth: bool = True, inference: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route: API key, the concurrent-request cap (inference routes), typed errors -> JSON problems, timing
    headers, metrics. Nothing a client sends reaches a 500."""
    m = state.metrics

    async def endpoint(request: Request) -> Response:
        t0 = time.perf_counter()
        timing = RequestTiming()
        _TIMING.set(timing)
        counted = False
        try:
            if auth:
                state.check_auth(request)
            if inference:
                counted = state.enter_request()
            resp = await handler(state, request)
        except Problem as p:
            m.errors.labels(p.type).inc()
            resp = p.response()
        except Exception:  # a bug, not the client's input: logged with its traceback, reported without it
            log.exception("unexpected error on %s", route)
            m.errors.labels("InternalError").inc()
            resp = Problem(500, "InternalError", "unexpected server error (logged)").response()
        finally:
            if counted:
                state.leave_request()
        total = time.perf_counter() - t0
        if timing.used:
            _timing_headers(resp, timing, total)
            m.queue_time.labels(route).observe(timing.queue)
            m.preprocess_time.labels(route).observe(timing.preprocess)
            m.inference_time.labels(route).observe(timing.inference)
        m.requests.labels(route, str(resp.status_code)).inc()
        m.latency.labels(route).observe(total)
        return resp

    return endpoint


def _timing_headers(resp: Response, t: RequestTiming, total: float) -> None:
    for name, seconds in (("queue", t.queue), ("preprocess", t.preprocess), ("inference", t.inference),
                          ("total", total)):
        resp.headers[f"x-{name}-time"] = f"{seconds * 1e3:.3f}"


class RouteGuard:
    """ASGI middleware in front of the router: a path is matched exactly as the client sent it (``/admin%2freload``
    is not ``/admin/reload``; no slash redirects) and an unknown path or method gets the typed JSON error (404, 405
    with ``Allow``) like every other refusal, counted in the metrics."""

    def __init__(self, app: Any, routes: Mapping[str, set[str]], metrics: ServerMetrics) -> None:
        self.app, self.routes, self.metrics = app, routes, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            problem = self.refusal(scope)
            if problem is not None:
                self.metrics.errors.labels(problem.type).inc()
                self.metrics.requests.labels("(unmatched)", str(problem.status)).inc()
                await problem.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: dict[str, Any]) -> Problem | None:
        path, raw = scope["path"], scope.get("raw_path")
        sent = raw.decode("latin-1") if isinstance(raw, bytes) else path
        methods = self.routes.get(path)
        if sent != path or methods is None:
            return Problem(404, "NotFound", f"no route {sent!r} (paths are matched exactly as sent)", "path",
                           ", ".join(sorted(self.routes)))
        if scope["method"] not in methods:
            allow = ", ".join(sorted(methods))
            return Problem(405, "MethodNotAllowed", f"{scope['method']} {path}: allowed {allow}", "method", allow,
                           headers={"Allow": allow})
        return None


def create_app(source: Source, config: ServerConfig | None = None, runner: Runner | None = None) -> Starlette:
    """The ASGI app serving ``source`` (a runner already started for it may be passed to skip loading)."""
    state = ServerState(source, config or ServerConfig(), runner)
    routes = [Route("/embed", _endpoint(state, "/embed", _embed, inference=True), methods=["POST"]),
              Route("/v1/embeddings", _endpoint(state, "/v1/embeddings", _v1_embeddings, inference=True),
                    methods=["POST"]),
              Route("/similar", _endpoint(state, "/similar", _similar, inference=True), methods=["POST"]),
              Route("/recommend", _endpoint(state, "/recommend", _recommend, inference=True), methods=["POST"]),
              Route("/health", _endpoint(state, "/health", _health, auth=False), methods=["GET"]),
              Route("/info", _endpoint(state, "/info", _info), methods=["GET"]),
              Route("/metrics", _endpoint(state, "/metrics", _metrics), methods=["GET"]),
              Route("/admin/reload", _endpoint(state, "/admin/reload", _reload), methods=["POST"])]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await state.startup()
        try:
            yield
        finally:
            await state.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.redirect_slashes = False
    app.state.taste2vec = state
    allowed = {r.path: set(r.methods or ()) for r in routes}  # GET routes also answer HEAD
    app.add_middleware(RouteGuard, routes=allowed, metrics=state.metrics)
    return app
