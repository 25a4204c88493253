"""``taste2vec-lifecycle``: monitoring: reference-stats (the drift reference) and monitor (guard rails, automatic rollback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taste2vec.fileio import read_json
from taste2vec.helpformat import Parser
from taste2vec.signing import add_trust_arguments, trust_from_args

from ..monitoring import GuardRails
from .common import emit, open_registry, read_jsonl


def cmd_reference(args) -> int:
    import numpy as np

    from taste2vec import Embedder

    from ..monitoring import EmbeddingStats

    recs = read_jsonl(args.records)
    with Embedder.create_from_model_path(args.model, **trust_from_args(args)) as emb:
        vecs = np.stack([emb.embed(r.get("record", r)).embedding for r in recs])
        doc = {"model": emb.model_version, **EmbeddingStats.of(vecs).to_dict()}
    Path(args.out).write_text(json.dumps(doc) + "\n", encoding="utf-8")
    emit({"written": args.out, "model": doc["model"], "count": doc["count"]})
    return 0


def cmd_monitor(args) -> int:
    from ..monitoring import EmbeddingStats, GuardRails, auto_rollback, check_guard_rails, model_health

    refs = {}
    for path in args.reference or []:
        d = read_json(path, ValueError, "reference stats")
        if not isinstance(d, dict):
            raise ValueError(f"reference stats {path}: expected a JSON object")
        refs[d["model"]] = EmbeddingStats.from_dict(d)
    health = model_health(read_jsonl(args.events), refs)
    rails = GuardRails(args.p99_ms, args.max_error_rate, args.max_shift_sd)
    violations = check_guard_rails(health, rails)
    out: dict[str, Any] = {"health": {m: h.to_dict() for m, h in health.items()},
                           "violations": [str(v) for v in violations]}
    if args.apply:
        out["actions"] = auto_rollback(violations, args.rollout, open_registry(args) if args.registry else None)
    emit(out)
    return 1 if violations and not args.apply else 0


def add_commands(sub: Any, reg: Parser, why: Parser) -> None:
    """Monitoring: the subcommands."""
    s = sub.add_parser("reference-stats", help="embedding statistics of validation records (drift reference)")
    s.add_argument("--records", required=True, help="JSON-lines records (or {record: ...} rows)")
    s.add_argument("--model", required=True, help="bundle that embeds them")
    add_trust_arguments(s)
    s.add_argument("--out", required=True, help="statistics JSON to write (monitor --reference)")
    s.set_defaults(func=cmd_reference)
    s = sub.add_parser("monitor", parents=[reg], help="device health, guard rails; --apply rolls back")
    s.add_argument("--events", required=True, help="device events: JSON lines, or a folder of them")
    s.add_argument("--reference", nargs="*", help="reference-stats JSON files, one per model")
    s.add_argument("--rollout", help="rollout config JSON that --apply changes")
    s.add_argument("--apply", action="store_true", help="roll a violating treatment back")
    s.add_argument("--p99-ms", type=float, default=GuardRails.p99_latency_ms, help="guard rail: on-device p99 latency")
    s.add_argument("--max-error-rate", type=float, default=0.01, help="guard rail: share of failed embeds")
    s.add_argument("--max-shift-sd", type=float, default=0.5,
                   help="guard rail: embedding mean shift vs the reference, in reference standard deviations")
    s.set_defaults(func=cmd_monitor)
