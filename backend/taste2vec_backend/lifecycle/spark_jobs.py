"""Batch jobs for when users outgrow one machine, on Apache Spark (pyspark; local mode in tests).

- :func:`embed_records`: tasting records (JSON lines ``{"id": ..., "record": {...}}``) -> their taste vectors with
  the shipped TFLite model, exactly the SDK's (the job runs the SDK's ``Embedder`` in every partition). The bundle
  travels to executors as one broadcast zip (``pack_bundle``), so executors need the ``taste2vec-edge`` wheel but
  no shared file system.
- :func:`preference_pairs`: feedback events (``taste2vec.feedback-event/1`` JSON lines) -> training pairs
  ``(user_id, preferred item, other item)`` for the fine-tuning job: per user, every liked (or rated >= 4) item
  against every disliked (or rated <= 2) item, at most ``max_pairs_per_user`` pairs each (a seeded sample), so one
  heavy user cannot dominate.

On a cluster the same functions run unchanged; only the session differs (docs/lifecycle.md)::

    spark-submit --master yarn --py-files taste2vec_edge-0.1.0-py3-none-any.whl \\
        -m taste2vec_backend.lifecycle.cli spark-embed --records hdfs:///t2v/records.jsonl --out hdfs:///t2v/vectors
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from taste2vec.bundle import pack_bundle

EMBED_SCHEMA = "id string, model string, embedding array<float>, bucket int, error string"


def session(master: str = "local[2]", app: str = "taste2vec", shuffle_partitions: int = 8):
    """A SparkSession (``local[N]`` here; ``yarn``, ``k8s://...`` or ``spark://...`` on a cluster).

    Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise (on a cluster: the executors'
    environment with the ``taste2vec-edge`` wheel installed).
    """
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    return (SparkSession.builder.master(master).appName(app)
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "true" if sys.stderr.isatty() else "false")  # bars for people only
            .getOrCreate())


def _embed_partition(rows: Iterator[Any], bundle_zip: Any) -> Iterator[tuple]:
    from taste2vec import BaseOptions, Embedder, EmbedderOptions
    from taste2vec.errors import RecordValidationError

    # origin was established on the driver (embed_records); the hashes are checked again here
    emb = Embedder.create_from_options(EmbedderOptions(BaseOptions(model_asset_buffer=bundle_zip.value,
                                                                   allow_unsigned=True)))
    try:
        for row in rows:
            doc = json.loads(row) if isinstance(row, str) else row
            rid = str(doc.get("id"))
            try:
                r = emb.embed(doc["record"])
                yield rid, r.model_version, [float(x) for x in r.embedding], int(r.bucket), None
            except (RecordValidationError, KeyError, TypeError) as e:  # a bad record is reported, not fatal
                yield rid, emb.model_version, None, None, f"{type(e).__name__}: {e}"
    finally:
        emb.close()


def embed_records(spark: Any, records: str | Path | list[dict[str, Any]], bundle_path: str | Path,
                  out: str | Path | None = None, partitions: int | None = None, trusted_keys: Any = None,
                  allow_unsigned: bool = False) -> Any:
    """Embed records (a JSON-lines path or a list of ``{"id", "record"}``) -> DataFrame (``EMBED_SCHEMA``).

    Writes Parquet to ``out`` when given. Invalid records get ``embedding = null`` and their typed error. The
    driver establishes the bundle's origin (``trusted_keys`` / ``allow_unsigned`` as in ``ModelBundle.load``);
    executors re-check the broadcast bytes' hashes.
    """
    from taste2vec.bundle import ModelBundle

    ModelBundle.load(bundle_path, trusted_keys=trusted_keys, allow_unsigned=allow_unsigned)
    sc = spark.sparkContext
    bundle_zip = sc.broadcast(pack_bundle(bundle_path))
    if isinstance(records, (str, Path)):
        rdd = sc.textFile(str(records), minPartitions=partitions or sc.defaultParallelism)
    else:
        rdd = sc.parallelize([json.dumps(r, ensure_ascii=False) for r in records], partitions or sc.defaultParallelism)
    df = spark.createDataFrame(rdd.mapPartitions(lambda rows: _embed_partition(rows, bundle_zip)), EMBED_SCHEMA)
    if out is not None:
        df.write.mode("overwrite").parquet(str(out))
    return df


def preference_pairs(spark: Any, events: str | Path | list[dict[str, Any]], out: str | Path | None = None,
                     max_pairs_per_user: int = 50, seed: int = 0) -> Any:
    """Feedback events -> ``(user_id, preferred, other)`` pairs (module docs); Parquet to ``out`` when given."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if isinstance(events, (str, Path)):
        df = spark.read.json(str(events))
    else:
        rows = [(e.get("user_id"), e.get("item_id"), e.get("type"),
                 None if e.get("value") is None else float(e["value"])) for e in events]
        df = spark.createDataFrame(rows, "user_id string, item_id string, type string, value double")
    df = df.where(F.col("item_id").isNotNull())
    if "value" not in df.columns:
        df = df.withColumn("value", F.lit(None).cast("double"))
    pos = df.where((F.col("type") == "like") | ((F.col("type") == "rating") & (F.col("value") >= 4))) \
        .select("user_id", F.col("item_id").alias("preferred")).distinct()
    neg = df.where((F.col("type") == "dislike") | ((F.col("type") == "rating") & (F.col("value") <= 2))) \
        .select("user_id", F.col("item_id").alias("other")).distinct()
    pairs = pos.join(neg, "user_id").where(F.col("preferred") != F.col("other"))
    w = Window.partitionBy("user_id").orderBy(F.rand(seed), "preferred", "other")
    pairs = pairs.withColumn("k", F.row_number().over(w)).where(F.col("k") <= max_pairs_per_user).drop("k")
    if out is not None:
        pairs.write.mode("overwrite").parquet(str(out))
    return pairs
