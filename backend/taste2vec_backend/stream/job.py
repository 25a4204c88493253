"""The feedback stream on Spark Structured Streaming: app events -> validated records -> vectors -> profiles, picks,
preference pairs and per-variant feedback, exactly once.

    spark = session("local[2]")
    query = start_stream(spark, StreamConfig(events="runs/stream/events", out="runs/stream/out",
                                             checkpoint="runs/stream/checkpoint"))
    query.awaitTermination()

Source: JSON lines landing in a folder (``source="files"``; every new file is read once, ``max_files_per_trigger``
per micro-batch), or Kafka (``source="kafka"``, ``bootstrap_servers`` + ``topic``; needs the
``spark-sql-kafka-0-10`` connector on the cluster: ``--packages org.apache.spark:spark-sql-kafka-0-10_2.13:<spark
version>``). Each message is one event of ``event_schema.json``.

Per micro-batch (``foreachBatch``):

1. executors parse and validate each event (:mod:`.events`) and embed its record with the bundle (the SDK's
   ``Embedder``; the bundle travels once as a broadcast zip and is loaded once per Python worker); a like / dislike
   of a catalog coffee takes the coffee's catalog vector (looked up in step 2, so it does not travel). Invalid
   events become dead letters with their typed error and field, written to ``out/dead_letters/batch=<id>/``:
   counted, never dropped;
2. executors apply each user's feedback to the keyed profile store (:mod:`.profiles`; users partitioned by id, so a
   user's file has one writer) with the SDK's own profile maths, and recompute the user's picks (the SDK's
   ``recommend`` over the catalog);
3. the driver writes the batch's preference pairs (``out/pairs/batch=<id>/``), its feedback in the A/B analyzer's
   ``taste2vec.feedback-event/1`` form (``out/feedback/batch=<id>/``) and a summary (``out/batches/<id>.json``).

One job per checkpoint and output folder: a job holds ``.taste2vec-job.lock`` in both for its life (:class:`JobLock`);
a second job on either stops at once with :class:`JobLockError` naming the holder. The OS drops a killed job's lock,
so a restarted job takes over; it first deletes the temporary files killed profile writes left.

Exactly once: Spark's checkpoint replays an uncommitted batch with the same id and the same events after a crash;
the profile store applies a batch at most once per user (and remembers what it applied, so the replay rewrites the
same sinks), event ids at most once per user, and every sink of a batch is written whole under that batch's id
(overwritten on a replay). Duplicate events (the same ``event_id`` again, in one batch or later) count once. Late
events are applied in the batch they arrive in (their timestamp orders them within it); nothing is dropped for
lateness.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from taste2vec.bundle import ModelBundle, default_bundle_path, pack_bundle
from taste2vec.errors import Taste2VecError
from taste2vec.fileio import try_lock, unlock, write_atomic

MAX_RAW_CHARS = 2048  # what a dead letter keeps of the event
ROWS_PER_FILE = 200_000  # a sink's rows per output file (a batch's sink is one file up to this)
# fault injection for the exactly-once tests: "<batch id>:<stage>", the stages after-profiles and after-sinks (the
# driver), or in-profiles:<n> (an executor, after writing n users' profiles: the whole job dies)
KILL_ENV = "TASTE2VEC_STREAM_KILL_AT"


@dataclass
class StreamConfig:
    """Where the stream reads and writes, and how.

    Attributes:
        events: the folder app events land in (source ``files``).
        out: the output folder: ``profiles/``, ``dead_letters/``, ``pairs/``, ``feedback/``, ``batches/``.
        checkpoint: Spark's checkpoint folder (offsets and commits): keep it to resume exactly once.
        bundle: the model bundle (default: the SDK's shipped bundle); trusted_keys / allow_unsigned as in the SDK.
        catalog: catalog JSON for item vectors and picks (default: the SDK's demo catalog).
        source: ``files`` or ``kafka`` (with ``bootstrap_servers`` and ``topic``).
        max_files_per_trigger: files per micro-batch (file source).
        k: picks kept per user.
        experiment: the experiment name the feedback sink writes (what ``taste2vec-lifecycle analyze`` reads).
    """

    events: str
    out: str
    checkpoint: str
    bundle: str | None = None
    trusted_keys: tuple[str, ...] = ()
    allow_unsigned: bool = False
    catalog: str | None = None
    source: str = "files"
    bootstrap_servers: str | None = None
    topic: str | None = None
    max_files_per_trigger: int = 1
    k: int = 10
    experiment: str = "stream"

    def __post_init__(self) -> None:
        if self.source not in ("files", "kafka"):
            raise ValueError(f"source: got {self.source!r}, allowed files, kafka")
        if self.source == "kafka" and not (self.bootstrap_servers and self.topic):
            raise ValueError("source kafka needs bootstrap_servers and topic")
        if not 1 <= self.max_files_per_trigger <= 10_000 or not 1 <= self.k <= 100:
            raise ValueError("max_files_per_trigger in 1..10000, k in 1..100")


JOB_LOCK = ".taste2vec-job.lock"


class JobLockError(Taste2VecError):
    """Another stream job holds this checkpoint or output folder."""


class JobLock:
    """The exclusive hold of one stream job on its checkpoint and output folders (see the module docs). The lock
    files name the holder (pid, host, start time) for the error a second job gets."""

    def __init__(self, cfg: StreamConfig) -> None:
        self._fds: list[int] = []
        me = json.dumps({"pid": os.getpid(), "host": os.uname().nodename if hasattr(os, "uname") else "",
                         "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        try:
            for folder in dict.fromkeys(Path(f).resolve() for f in (cfg.checkpoint, cfg.out)):
                folder.mkdir(parents=True, exist_ok=True)
                fd = try_lock(folder / JOB_LOCK)
                if fd is None:
                    raise JobLockError(f"{folder} is in use by another stream job ({_holder(folder / JOB_LOCK)}): "
                                       "one job per checkpoint and output folder; stop it, or use other folders")
                self._fds.append(fd)
                os.ftruncate(fd, 0)
                os.write(fd, me.encode())
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let another job have the folders (idempotent)."""
        while self._fds:
            unlock(self._fds.pop())


def _holder(lock: Path) -> str:
    try:
        h = json.loads(lock.read_text(encoding="utf-8")[:1000])
        return f"pid {int(h['pid'])} on {str(h['host'])[:64]!r} since {str(h['since'])[:32]}"
    except (OSError, ValueError, TypeError, KeyError):
        return "holder unknown"


class StreamJob:
    """A started stream job: the Spark streaming query (its other methods pass through) and the job's
    :class:`JobLock`, released once the query has ended."""

    def __init__(self, query: Any, lock: JobLock) -> None:
        self.query, self.lock = query, lock

    def awaitTermination(self, timeout: float | None = None) -> bool | None:  # noqa: N802 - Spark's name
        try:
            return self.query.awaitTermination() if timeout is None else self.query.awaitTermination(timeout)
        finally:
            if not self.query.isActive:
                self.lock.release()

    def stop(self) -> None:
        try:
            self.query.stop()
        finally:
            self.lock.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.query, name)


# ---------------------------------------------------------------------- executors
_WORKER_CACHE: dict[str, tuple[str, Any]] = {}  # name -> (key, object)


def _worker_cached(name: str, key: str, make: Callable[[], Any]) -> Any:
    """``make()`` once per Python worker for each ``key`` (the hashes of the broadcast bundle and catalog)."""
    entry = _WORKER_CACHE.get(name)
    if entry is None or entry[0] != key:
        entry = _WORKER_CACHE[name] = (key, make())
    return entry[1]


def _catalog(catalog_bc: Any, key: str) -> Any:
    from taste2vec.curation import Catalog

    return _worker_cached("catalog", key, lambda: Catalog.from_dict(json.loads(catalog_bc.value)))


def _embedder(bundle_bc: Any, key: str) -> Any:
    from taste2vec import BaseOptions, Embedder, EmbedderOptions

    # the bundle's origin was established on the driver; the broadcast bytes' hashes are checked again here
    return _worker_cached("embedder", key, lambda: Embedder.create_from_options(
        EmbedderOptions(BaseOptions(model_asset_buffer=bundle_bc.value, allow_unsigned=True))))


# the apply step's output: one row type for every sink (``kind``), the columns each sink writes, one stats row
_DEAD, _FEEDBACK, _PAIR, _STATS = "dead", "feedback", "pair", "stats"
SINK_COLUMNS = {
    _DEAD: ("event_id", "user_id", "error_type", "error_field", "error", "raw"),
    _FEEDBACK: ("user_id", "experiment", "variant", "type", "item_id", "value", "time"),
    _PAIR: ("user_id", "preferred", "other"),
}
_DOUBLES = {"value", "time"}
RESULT_COLUMNS = ("kind", *dict.fromkeys(c for cols in SINK_COLUMNS.values() for c in cols), "stats")
RESULT_SCHEMA = ", ".join(f"{c} {'double' if c in _DOUBLES else 'string'}" for c in RESULT_COLUMNS)
_POSITION = {c: i for i, c in enumerate(RESULT_COLUMNS)}


def _result(kind: str, **values: Any) -> tuple:
    """A row of ``RESULT_SCHEMA``: ``kind`` and its columns, None elsewhere."""
    row: list[Any] = [None] * len(RESULT_COLUMNS)
    row[0] = kind
    for name, v in values.items():
        row[_POSITION[name]] = v
    return tuple(row)


def _dead(raw: str, err_type: str, field: str | None, message: str, event_id: Any = None,
          user_id: Any = None) -> tuple:
    user = user_id if isinstance(user_id, str) else None
    return user, _result(_DEAD, event_id=event_id if isinstance(event_id, str) else None, user_id=user,
                         error_type=err_type, error_field=field, error=message[:1000], raw=raw[:MAX_RAW_CHARS])


def _process_partition(lines: Iterator[Any], bundle_bc: Any, catalog_bc: Any, key: str) -> Iterator[tuple]:
    """Raw lines -> ``(user id, row)``: a valid event as an :class:`~.profiles.Update` with what the sinks need of
    it, or a dead letter (a ``_DEAD`` row of ``RESULT_SCHEMA``)."""
    from taste2vec.errors import RecordValidationError

    from .events import EventSchema

    emb, catalog, schema = _embedder(bundle_bc, key), _catalog(catalog_bc, key), EventSchema.default()
    for row in lines:
        raw = row if isinstance(row, str) else row[0]
        raw = raw if isinstance(raw, str) else ""
        try:
            ev = schema.parse_line(raw)
        except RecordValidationError as e:
            yield _dead(raw, type(e).__name__, e.field, str(e))
            continue
        vector, attributes = None, {}
        if ev.record is not None:
            try:
                r = emb.embed(ev.record)
            except RecordValidationError as e:  # already validated; kept for safety
                yield _dead(raw, type(e).__name__, f"record.{e.field}", str(e), ev.event_id, ev.user_id)
                continue
            vector, attributes = r.embedding.tolist(), r.attributes
        elif ev.feedback is not None and ev.item_id not in catalog:  # a like / dislike of an unknown coffee
            yield _dead(raw, "UnknownItemError", "item_id", f"item_id: {ev.item_id!r} is not in the catalog "
                        f"({len(catalog)} items, {catalog.model_version})", ev.event_id, ev.user_id)
            continue
        # a like / dislike of a catalog coffee travels without its vector: the profile step looks it up
        yield ev.user_id, ("event", ev.event_id, ev.ts.timestamp(), ev.type, ev.item_id, ev.variant,
                           ev.feedback, vector, attributes)


def _user_partition(user_id: str | None) -> int:
    """The shuffle's key hash: stable across processes and runs (Python's str hash is salted per process)."""
    return zlib.crc32((user_id or "").encode("utf-8"))


def _feedback_rows(user: str, event: tuple, experiment: str) -> list[tuple]:
    """An applied event in the A/B analyzer's form: a reaction to a shown coffee is one ``shown`` (a like also one
    ``like``), a tasting with stars one ``rating``."""
    _, _, ts, etype, item_id, variant, feedback, _, _ = event
    variant = variant if variant is not None else "none"
    if etype in ("like", "dislike", "skip") and item_id is not None:
        kinds = [("shown", None)] + ([("like", None)] if etype == "like" else [])
    elif etype == "tasting" and isinstance(feedback, dict) and "rating" in feedback:
        kinds = [("rating", float(feedback["rating"]))]
    else:
        kinds = []
    return [_result(_FEEDBACK, user_id=user, experiment=experiment, variant=variant, type=kind, item_id=item_id,
                    value=value, time=ts) for kind, value in kinds]


def _apply_partition(rows: Iterator[tuple], store_root: str, catalog_bc: Any, key: str, k: int, batch_id: int,
                     model_version: str, experiment: str, driver_pid: int = 0) -> Iterator[tuple]:
    """Apply each user's events of this batch to the profile store (a user's rows are all in this partition); emit
    the batch's dead letters, the applied events' feedback rows, the preference pairs and one ``_STATS`` row."""
    from .profiles import ProfileStore, Update

    catalog = _catalog(catalog_bc, key)
    store = ProfileStore(store_root, catalog=catalog, k=k)
    by_user: dict[str, dict[str, tuple]] = {}
    updates: dict[str, list[Update]] = {}
    stats: dict[str, Any] = {"events": 0, "dead_by_type": {}, "applied": 0, "users": 0, "duplicates": 0,
                             "replayed": False, "feedback_rows": 0, "pair_rows": 0}
    out: list[tuple] = []
    for user, row in rows:
        stats["events"] += 1
        if row[0] == _DEAD:
            error_type = row[_POSITION["error_type"]]
            stats["dead_by_type"][error_type] = stats["dead_by_type"].get(error_type, 0) + 1
            out.append(row)
            continue
        _, event_id, ts, _, item_id, _, feedback, vector, attributes = row
        if feedback is not None and vector is None:  # a catalog coffee (validated in the first step)
            vector, attributes = catalog.embedding(item_id), catalog.item(item_id).attributes
        seen = by_user.setdefault(user, {})
        if event_id not in seen or ts < seen[event_id][2]:  # the copy of a duplicate the store applies: the earliest
            seen[event_id] = row
        updates.setdefault(user, []).append(Update(event_id, ts, feedback, vector, attributes, item_id,
                                                   model_version))
    injecting = KILL_ENV in os.environ  # read once: the per-user loop stays free of fault-injection work
    for n, (user, events) in enumerate(updates.items(), 1):
        res = store.apply(batch_id, user, events, durable=False)
        if injecting:
            _maybe_kill(batch_id, f"in-profiles:{n}", driver_pid)
        stats["applied"] += len(res.applied_ids)
        stats["duplicates"] += res.duplicates
        stats["replayed"] |= res.replayed_batch
        for event_id in res.applied_ids:  # a replayed batch: the events it applied the first time
            out += _feedback_rows(user, by_user[user][event_id], experiment)
        out += [_result(_PAIR, user_id=user, preferred=preferred, other=other) for preferred, other in res.pairs]
    if updates:
        os.sync()  # the partition's profile files reach the disk before Spark can commit the batch
    stats["users"] = len(updates)
    stats["feedback_rows"] = sum(r[0] == _FEEDBACK for r in out)
    stats["pair_rows"] = sum(r[0] == _PAIR for r in out)
    out.append(_result(_STATS, stats=json.dumps(stats)))
    return iter(out)


# ---------------------------------------------------------------------- the driver
def _maybe_kill(batch_id: int, stage: str, driver_pid: int = 0) -> None:
    """Fault injection for the exactly-once tests: die like ``kill -9`` at a stage of a batch (an executor takes the
    driver, ``driver_pid``, with it: the whole job dies, as on a lost machine)."""
    if os.environ.get(KILL_ENV) == f"{batch_id}:{stage}":
        sys.stderr.write(f"{KILL_ENV}: killing the job at batch {batch_id}, {stage}\n")
        sys.stderr.flush()
        if driver_pid:
            import signal

            os.kill(driver_pid, signal.SIGKILL)
        os._exit(137)


class BatchProcessor:
    """The ``foreachBatch`` function: one micro-batch through validation, embedding, profiles and the sinks.

    A batch is one pipeline of Python stages with one shuffle (validate and embed -> by user -> apply) whose output,
    cached in the JVM, feeds the three sink writes; the summary is the apply step's own counts. Four Spark jobs per
    batch, the Python workers in the first only."""

    def __init__(self, spark: Any, cfg: StreamConfig, progress: bool = True) -> None:
        from taste2vec.curation import Catalog

        bundle_path = Path(cfg.bundle) if cfg.bundle else default_bundle_path()
        bundle = ModelBundle.load(bundle_path, trusted_keys=cfg.trusted_keys, allow_unsigned=cfg.allow_unsigned)
        catalog = Catalog.load(cfg.catalog) if cfg.catalog else Catalog.default()
        if catalog.model_version != bundle.model_id:
            raise ValueError(f"the catalog was embedded with {catalog.model_version}, the bundle is {bundle.model_id}")
        self.spark, self.cfg, self.progress = spark, cfg, progress
        self.model_version = bundle.model_id
        sc = spark.sparkContext
        zipped, cat_json = pack_bundle(bundle_path), json.dumps(catalog.to_dict())
        self.key = hashlib.sha256(zipped).hexdigest()[:16] + ":" + hashlib.sha256(cat_json.encode()).hexdigest()[:16]
        self.bundle_bc = sc.broadcast(zipped)
        self.catalog_bc = sc.broadcast(cat_json)
        self.partitions = sc.defaultParallelism  # one task per core: a Python task has a fixed cost (~30 ms)
        self.out = Path(cfg.out)

    def __call__(self, df: Any, batch_id: int) -> None:
        t0 = time.perf_counter()
        bid, stages = int(batch_id), {}
        bundle_bc, catalog_bc, key = self.bundle_bc, self.catalog_bc, self.key
        store_root, k, version = str(self.out / "profiles"), self.cfg.k, self.model_version
        experiment, driver = self.cfg.experiment, os.getpid()
        results = self.spark.createDataFrame(df.select("value").rdd
            .mapPartitions(lambda lines: _process_partition(lines, bundle_bc, catalog_bc, key))
            .partitionBy(self.partitions, _user_partition)
            .mapPartitions(lambda rows: _apply_partition(rows, store_root, catalog_bc, key, k, bid, version,
                                                         experiment, driver)), RESULT_SCHEMA).persist()
        try:
            # the profile store is updated here (a recomputation of a partition replays idempotently)
            parts = [json.loads(r.stats) for r in results.where(results.kind == _STATS).select("stats").collect()]
            stages["validate_embed_profiles"] = round(time.perf_counter() - t0, 3)
            _maybe_kill(bid, "after-profiles")
            summary = self._summary(parts, bid)
            self._sinks(results, bid, {_DEAD: summary["dead_letters"], _FEEDBACK: summary["feedback_rows"],
                                       _PAIR: summary["pair_rows"]})
        finally:
            results.unpersist()
        stages["sinks"] = round(time.perf_counter() - t0 - stages["validate_embed_profiles"], 3)
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        summary["stage_seconds"] = stages
        (self.out / "batches").mkdir(parents=True, exist_ok=True)
        write_atomic(self.out / "batches" / f"{bid:08d}.json", json.dumps(summary, indent=1))
        _maybe_kill(bid, "after-sinks")
        if self.progress:
            print(f"batch {bid}: {summary['events']} events, {summary['dead_letters']} dead letters, "
                  f"{summary['applied']} applied to {summary['users']} users, {summary['duplicates']} duplicates, "
                  f"{summary['seconds']:.1f} s", file=sys.stderr, flush=True)

    def _sinks(self, results: Any, bid: int, counts: dict[str, int]) -> None:
        """Write the batch's dead letters, feedback and pairs, each whole under the batch id (a replay overwrites),
        in files of up to ``ROWS_PER_FILE`` rows. The three writes read the cached results in the JVM and run as
        concurrent Spark jobs: each is small, and mostly scheduling latency."""
        from concurrent.futures import ThreadPoolExecutor

        def write(kind: str, folder: str, fmt: str) -> None:
            files = min(self.partitions, 1 + counts[kind] // ROWS_PER_FILE)
            rows = results.where(results.kind == kind).select(*SINK_COLUMNS[kind]).coalesce(files)
            getattr(rows.write.mode("overwrite"), fmt)(str(self.out / folder / f"batch={bid}"))

        sinks = ((_DEAD, "dead_letters", "json"), (_FEEDBACK, "feedback", "json"), (_PAIR, "pairs", "parquet"))
        with ThreadPoolExecutor(len(sinks), thread_name_prefix="taste2vec-sink") as pool:
            for done in [pool.submit(write, *sink) for sink in sinks]:
                done.result()

    def _summary(self, parts: list[dict[str, Any]], bid: int) -> dict[str, Any]:
        dead_by_type: dict[str, int] = {}
        for p in parts:
            for name, n in p["dead_by_type"].items():
                dead_by_type[name] = dead_by_type.get(name, 0) + n
        total = {name: sum(p[name] for p in parts) for name in ("events", "applied", "users", "duplicates",
                                                                 "feedback_rows", "pair_rows")}
        return {"batch": bid, "events": total["events"], "dead_letters": sum(dead_by_type.values()),
                "dead_by_type": dict(sorted(dead_by_type.items())), "applied": total["applied"],
                "users": total["users"], "duplicates": total["duplicates"],
                "replayed": any(p["replayed"] for p in parts),
                "model_version": self.model_version, "feedback_rows": total["feedback_rows"],
                "pair_rows": total["pair_rows"]}


def start_stream(spark: Any, cfg: StreamConfig, available_now: bool = True, progress: bool = True,
                 lock: JobLock | None = None) -> StreamJob:
    """Start the streaming query (``available_now``: process what is there in micro-batches, then stop) under the
    job's lock (``lock``: one already taken, e.g. before starting Spark; else taken here: :class:`JobLockError`
    when another job holds the folders)."""
    lock = lock or JobLock(cfg)
    try:
        query = _start_query(spark, cfg, available_now, progress)
    except BaseException:
        lock.release()
        raise
    return StreamJob(query, lock)


def _start_query(spark: Any, cfg: StreamConfig, available_now: bool, progress: bool) -> Any:
    from .profiles import ProfileStore

    ProfileStore(Path(cfg.out) / "profiles").remove_stale_temporaries()  # killed writes of an earlier run
    if cfg.source == "files":
        Path(cfg.events).mkdir(parents=True, exist_ok=True)
        reader = spark.readStream.format("text").option("maxFilesPerTrigger", cfg.max_files_per_trigger) \
            .load(str(cfg.events))
    else:
        try:
            reader = spark.readStream.format("kafka").option("kafka.bootstrap.servers", cfg.bootstrap_servers) \
                .option("subscribe", cfg.topic).option("startingOffsets", "earliest").load() \
                .selectExpr("CAST(value AS STRING) AS value")
        except Exception as e:  # pyspark's AnalysisException when the connector is not on the classpath
            if "kafka" in str(e).lower() and ("find data source" in str(e).lower() or "not found" in str(e).lower()):
                raise ValueError("source kafka needs Spark's Kafka connector: spark-submit --packages "
                                 "org.apache.spark:spark-sql-kafka-0-10_2.13:<Spark version>") from None
            raise
    writer = reader.writeStream.foreachBatch(BatchProcessor(spark, cfg, progress)) \
        .option("checkpointLocation", str(cfg.checkpoint)).queryName("taste2vec-feedback")
    writer = writer.trigger(availableNow=True) if available_now else writer.trigger(processingTime="5 seconds")
    return writer.start()


def batch_summaries(out: str | Path) -> list[dict[str, Any]]:
    """The per-batch summaries the job wrote, in batch order."""
    return [json.loads(p.read_text()) for p in sorted((Path(out) / "batches").glob("*.json"))]
