"""``taste2vec-lifecycle``: the Spark jobs: spark-embed, spark-pairs and the feedback stream."""

from __future__ import annotations

from typing import Any

from taste2vec.helpformat import Parser
from taste2vec.signing import add_trust_arguments, trust_from_args

from .common import emit


def cmd_spark_embed(args) -> int:
    from taste2vec.bundle import default_bundle_path

    from ..spark_jobs import embed_records, session

    spark = session(args.master)
    try:
        df = embed_records(spark, args.records, args.model or default_bundle_path(), args.out, **trust_from_args(args))
        emit({"written": args.out, "rows": df.count(), "errors": df.where("error is not null").count()})
    finally:
        spark.stop()
    return 0


def cmd_spark_pairs(args) -> int:
    from ..spark_jobs import preference_pairs, session

    spark = session(args.master)
    try:
        df = preference_pairs(spark, args.events, args.out, args.max_pairs_per_user)
        emit({"written": args.out, "pairs": df.count()})
    finally:
        spark.stop()
    return 0


def cmd_stream(args) -> int:
    from ...stream.job import JobLock, StreamConfig, batch_summaries, start_stream
    from ..spark_jobs import session

    trust = trust_from_args(args)
    cfg = StreamConfig(events=args.events, out=args.out, checkpoint=args.checkpoint, bundle=args.model,
                       trusted_keys=tuple(str(k) for k in trust["trusted_keys"]),
                       allow_unsigned=trust["allow_unsigned"], catalog=args.catalog, source=args.source,
                       bootstrap_servers=args.bootstrap_servers, topic=args.topic,
                       max_files_per_trigger=args.max_files_per_trigger, k=args.k, experiment=args.experiment)
    lock = JobLock(cfg)  # before Spark starts: a second job on these folders stops at once
    try:
        spark = session(args.master, "taste2vec-stream")
        try:
            query = start_stream(spark, cfg, available_now=not args.continuous, lock=lock)
            query.awaitTermination()
            if query.exception() is not None:
                raise RuntimeError(f"the stream failed: {query.exception()}")
        finally:
            spark.stop()
    finally:
        lock.release()
    done = batch_summaries(args.out)
    emit({"batches": len(done), "events": sum(b["events"] for b in done),
            "dead_letters": sum(b["dead_letters"] for b in done), "applied": sum(b["applied"] for b in done),
            "duplicates": sum(b["duplicates"] for b in done), "out": args.out})
    return 0


def add_commands(sub: Any, reg: Parser, why: Parser) -> None:
    """The Spark jobs: the subcommands."""
    spark = Parser(add_help=False)
    spark.add_argument("--master", default="local[2]", help="Spark master: local[N], yarn, k8s://..., spark://...")
    s = sub.add_parser("spark-embed", parents=[spark], help="embed a JSON-lines record file on Spark")
    s.add_argument("--records", required=True, help="JSON-lines records")
    s.add_argument("--out", required=True, help="Parquet folder to write")
    s.add_argument("--model", help="bundle (default: the SDK's shipped bundle)")
    add_trust_arguments(s)
    s.set_defaults(func=cmd_spark_embed)
    s = sub.add_parser("spark-pairs", parents=[spark], help="preference pairs from feedback events on Spark")
    s.add_argument("--events", required=True, help="feedback events JSON lines")
    s.add_argument("--out", required=True, help="Parquet folder to write")
    s.add_argument("--max-pairs-per-user", type=int, default=50, help="cap on pairs per user")
    s.set_defaults(func=cmd_spark_pairs)
    s = sub.add_parser("stream", parents=[spark], help="the feedback stream (Structured Streaming): app events -> "
                       "profiles, picks, pairs, per-variant feedback, exactly once")
    s.add_argument("--events", required=True, help="folder app events (JSON lines) land in (source files)")
    s.add_argument("--out", required=True, help="profiles/, dead_letters/, pairs/, feedback/, batches/")
    s.add_argument("--checkpoint", required=True, help="Spark checkpoint folder: keep it to resume exactly once")
    s.add_argument("--model", help="bundle (default: the SDK's shipped bundle)")
    s.add_argument("--catalog", help="catalog JSON embedded with the bundle (default: the demo catalog)")
    s.add_argument("--source", choices=["files", "kafka"], default="files",
                   help="files: a folder new event files land in; kafka: a topic")
    s.add_argument("--bootstrap-servers", help="Kafka brokers (source kafka; needs the spark-sql-kafka connector)")
    s.add_argument("--topic", help="Kafka topic (source kafka)")
    s.add_argument("--max-files-per-trigger", type=int, default=1, help="files per micro-batch")
    s.add_argument("--k", type=int, default=10, help="picks kept per user")
    s.add_argument("--experiment", default="stream", help="experiment name of the feedback sink")
    s.add_argument("--continuous", action="store_true",
                   help="keep running (a micro-batch every 5 s) instead of stopping when the events are processed")
    add_trust_arguments(s)
    s.set_defaults(func=cmd_stream)
