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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from taste2vec.bundle import ModelBundle, default_bundle_path, pack_bundle
from taste2vec.errors import Taste2VecError
from taste2vec.fileio import try_lock, unlock, write_atomic

PROCESSED_SCHEMA = ("event_id string, user_id string, ts double, type string, item_id string, variant string, "
                    "app_model string, feedback string, embedding array<float>, attributes string, "
                    "error_type string, error_field string, error string, raw string")
APPLIED_SCHEMA = "user_id string, event_id string, replayed boolean, duplicates int, pairs string"
MAX_RAW_CHARS = 2048  # what a dead letter keeps of the event
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


def _dead(raw: str, err_type: str, field: str | None, message: str, event_id: Any = None, user_id: Any = None):
    return (event_id if isinstance(event_id, str) else None, user_id if isinstance(user_id, str) else None, None,
            None, None, None, None, None, None, None, err_type, field, message[:1000], raw[:MAX_RAW_CHARS])


def _process_partition(lines: Iterator[Any], bundle_bc: Any, catalog_bc: Any, key: str) -> Iterator[tuple]:
    """Raw lines -> processed rows (``PROCESSED_SCHEMA``): valid events with their vector, or dead letters."""
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
            vector, attributes = [float(x) for x in r.embedding], r.attributes
        elif ev.feedback is not None and ev.item_id not in catalog:  # a like / dislike of an unknown coffee
            yield _dead(raw, "UnknownItemError", "item_id", f"item_id: {ev.item_id!r} is not in the catalog "
                        f"({len(catalog)} items, {catalog.model_version})", ev.event_id, ev.user_id)
            continue
        # a like / dislike of a catalog coffee travels without its vector: the profile step looks it up
        yield (ev.event_id, ev.user_id, ev.ts.timestamp(), ev.type, ev.item_id, ev.variant, ev.model_version,
               None if ev.feedback is None else json.dumps(ev.feedback), vector, json.dumps(attributes), None, None,
               None, None)


def _apply_partition(rows: Iterator[Any], store_root: str, catalog_bc: Any, key: str, k: int, batch_id: int,
                     model_version: str, driver_pid: int = 0) -> Iterator[tuple]:
    """Apply each user's updates of this batch to the profile store (a user's rows are all in this partition)."""
    from .profiles import ProfileStore, Update

    catalog = _catalog(catalog_bc, key)
    store = ProfileStore(store_root, catalog=catalog, k=k)
    by_user: dict[str, list[Update]] = {}
    out: list[tuple] = []
    for r in rows:
        vector, attributes = r.embedding, json.loads(r.attributes)
        if r.feedback is not None and vector is None:  # a catalog coffee (validated in the first step)
            vector, attributes = catalog.embedding(r.item_id), catalog.item(r.item_id).attributes
        by_user.setdefault(r.user_id, []).append(
            Update(r.event_id, r.ts, None if r.feedback is None else json.loads(r.feedback), vector, attributes,
                   r.item_id, model_version))
    injecting = KILL_ENV in os.environ  # read once: the per-user loop stays free of fault-injection work
    for n, (user, updates) in enumerate(by_user.items(), 1):
        res = store.apply(batch_id, user, updates, durable=False)
        if injecting:
            _maybe_kill(batch_id, f"in-profiles:{n}", driver_pid)
        pairs = json.dumps([list(p) for p in res.pairs])
        if not res.applied_ids:
            out.append((user, None, res.replayed_batch, res.duplicates, pairs))
        for i, event_id in enumerate(res.applied_ids):
            out.append((user, event_id, res.replayed_batch, res.duplicates if i == 0 else 0, pairs if i == 0 else "[]"))
    if by_user:
        os.sync()  # the partition's profile files reach the disk before Spark can commit the batch
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
    """The ``foreachBatch`` function: one micro-batch through validation, embedding, profiles and the sinks."""

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
        self.out = Path(cfg.out)

    def __call__(self, df: Any, batch_id: int) -> None:
        from pyspark.sql import functions as F

        t0 = time.perf_counter()
        spark, out, bid = self.spark, self.out, int(batch_id)
        bundle_bc, catalog_bc, key = self.bundle_bc, self.catalog_bc, self.key
        processed = spark.createDataFrame(
            df.select("value").rdd.mapPartitions(lambda rows: _process_partition(rows, bundle_bc, catalog_bc, key)),
            PROCESSED_SCHEMA).persist()
        stages: dict[str, float] = {}
        last = t0

        def lap(name: str) -> None:
            nonlocal last
            now = time.perf_counter()
            stages[name] = round(now - last, 3)
            last = now

        try:
            n_events = processed.count()
            lap("validate_embed")
            dead = processed.where(F.col("error_type").isNotNull())
            dead.select("event_id", "user_id", "error_type", "error_field", "error", "raw") \
                .write.mode("overwrite").json(str(out / "dead_letters" / f"batch={bid}"))
            lap("dead_letters")
            valid = processed.where(F.col("error_type").isNull())
            store_root, k, version, driver = str(out / "profiles"), self.cfg.k, self.model_version, os.getpid()
            applied = spark.createDataFrame(
                valid.repartition("user_id").rdd.mapPartitions(
                    lambda rows: _apply_partition(rows, store_root, catalog_bc, key, k, bid, version, driver)),
                APPLIED_SCHEMA).persist()
            try:
                applied.count()  # the profile store is updated here (a recomputation replays idempotently)
                lap("profiles")
                _maybe_kill(bid, "after-profiles")
                rows = self._sinks(valid, applied, bid)
                lap("sinks")
                summary = {**self._summary(n_events, dead, applied, bid, time.perf_counter() - t0), **rows}
                summary["stage_seconds"] = stages
            finally:
                applied.unpersist()
        finally:
            processed.unpersist()
        (out / "batches").mkdir(parents=True, exist_ok=True)
        write_atomic(out / "batches" / f"{bid:08d}.json", json.dumps(summary, indent=1))
        _maybe_kill(bid, "after-sinks")
        if self.progress:
            print(f"batch {bid}: {summary['events']} events, {summary['dead_letters']} dead letters, "
                  f"{summary['applied']} applied to {summary['users']} users, {summary['duplicates']} duplicates, "
                  f"{summary['seconds']:.1f} s", file=sys.stderr, flush=True)

    def _sinks(self, valid: Any, applied: Any, bid: int) -> dict[str, int]:
        """Write the batch's feedback and pairs; the rows written to each (counted while writing: no extra job)."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        out = self.out
        ids = applied.where(F.col("event_id").isNotNull()).select("event_id")
        # the events of this batch the store applied (not duplicates); for a replayed batch, the same ones
        events = valid.dropDuplicates(["event_id"]).join(ids, "event_id")
        variant = F.coalesce(F.col("variant"), F.lit("none")).alias("variant")
        shown = events.where(F.col("type").isin("like", "dislike", "skip") & F.col("item_id").isNotNull())
        rated = events.where((F.col("type") == "tasting") & F.col("feedback").contains('"rating"'))
        none = F.lit(None).cast("double").alias("value")
        # the A/B analyzer's events: a reaction to a shown coffee is one 'shown' (and a like also one 'like')
        fb = shown.select("user_id", "item_id", variant, F.lit("shown").alias("type"), "ts", none) \
            .unionByName(shown.where(F.col("type") == "like")
                         .select("user_id", "item_id", variant, F.lit("like").alias("type"), "ts", none)) \
            .unionByName(rated.select("user_id", "item_id", variant, F.lit("rating").alias("type"), "ts",
                                      F.get_json_object("feedback", "$.rating").cast("double").alias("value")))
        seen = {name: Observation(f"{name}-{bid}") for name in ("feedback_rows", "pair_rows")}
        fb.select("user_id", F.lit(self.cfg.experiment).alias("experiment"), "variant", "type", "item_id", "value",
                  F.col("ts").alias("time")).observe(seen["feedback_rows"], F.count(F.lit(1)).alias("rows")) \
            .write.mode("overwrite").json(str(out / "feedback" / f"batch={bid}"))
        pairs = applied.select("user_id", F.explode(F.from_json("pairs", "array<array<string>>")).alias("p")) \
            .select("user_id", F.col("p")[0].alias("preferred"), F.col("p")[1].alias("other"))
        pairs.observe(seen["pair_rows"], F.count(F.lit(1)).alias("rows")) \
            .write.mode("overwrite").parquet(str(out / "pairs" / f"batch={bid}"))
        return {name: int(o.get.get("rows") or 0) for name, o in seen.items()}

    def _summary(self, n_events: int, dead: Any, applied: Any, bid: int, seconds: float) -> dict[str, Any]:
        from pyspark.sql import functions as F

        by_type = {r["error_type"]: r["count"] for r in dead.groupBy("error_type").count().collect()}
        a = applied.agg(F.count("event_id").alias("applied"), F.countDistinct("user_id").alias("users"),
                        F.sum("duplicates").alias("duplicates"),
                        F.max(F.col("replayed").cast("int")).alias("replayed")).collect()[0]
        return {"batch": bid, "events": n_events, "dead_letters": sum(by_type.values()), "dead_by_type": by_type,
                "applied": int(a["applied"] or 0), "users": int(a["users"] or 0),
                "duplicates": int(a["duplicates"] or 0), "replayed": bool(a["replayed"]), "seconds": round(seconds, 3),
                "model_version": self.model_version}


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
