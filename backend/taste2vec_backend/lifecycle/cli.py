"""``taste2vec-lifecycle``: the model registry (register, list, show, stages), rollout configs, experiment design /
analysis / simulation, monitoring with automatic rollback, and the Spark jobs. Every command prints JSON; exit 2
on bad usage or input. Every registry command uses ``runs/registry`` unless ``--registry`` or
``$TASTE2VEC_REGISTRY`` says otherwise.

    taste2vec-lifecycle register runs/export/bundles/taste2vec-edge-1.3.0
    taste2vec-lifecycle list
    taste2vec-lifecycle stage taste2vec-edge 1.3.0 staging --reason "offline gate passed"
    taste2vec-lifecycle rollout-init --experiment edge-13 --control taste2vec-edge-1.2.0 \\
        --treatment taste2vec-edge-1.3.0 --traffic 10 --out rollout.json
    taste2vec-lifecycle rollout-set --config rollout.json --traffic treatment=50   # control gets the rest
    taste2vec-lifecycle plan --p-control 0.30 --mde 0.10 --out design.json
    taste2vec-lifecycle analyze --events feedback.jsonl --experiment edge-13 --design design.json \\
        --rollout rollout.json --apply
    taste2vec-lifecycle monitor --events device.jsonl --reference reference.json --rollout rollout.json --apply
    taste2vec-lifecycle simulate-world --users 600
    taste2vec-lifecycle simulate-feedback --events feedback.jsonl --items items.jsonl
    taste2vec-lifecycle finetune --checkpoint runs/reference/checkpoint --events feedback.jsonl \\
        --items items.jsonl --out runs/finetune
    taste2vec-lifecycle spark-embed --records records.jsonl --out vectors.parquet --master local[2]
    taste2vec-lifecycle stream --events incoming/ --out runs/stream --checkpoint runs/stream-checkpoint
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from taste2vec.errors import Taste2VecError
from taste2vec.fileio import iter_lines, parse_json, read_json
from taste2vec.helpformat import Parser
from taste2vec.registry import INDEX, RegistryError, default_registry_path
from taste2vec.rollout import RolloutConfig, RolloutVariant
from taste2vec.signing import add_trust_arguments, trust_from_args


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=1, ensure_ascii=False, default=str))


MAX_EVENT_FILES = 100_000
MAX_EVENT_LINE_BYTES = 256 * 1024  # an event, item or record line is well under a kilobyte
MAX_EVENT_LINES = 5_000_000
MAX_EVENT_DEPTH = 8


def _jsonl(path: str) -> list[dict[str, Any]]:
    """A JSON-lines file as a list of objects: lines, nesting and line count bounded; ``ValueError`` naming the
    file and line for anything else (the CLI prints it and exits 2). A folder stands for its ``*.json`` and
    ``*.jsonl`` files, sorted (e.g. the stream's ``feedback/batch=<id>/part-*.json``; at most 100,000 files)."""
    folder = Path(path)
    files = [path]
    if folder.is_dir():
        files = sorted(str(p) for p in folder.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file()
                       and not p.name.startswith("."))
        if len(files) > MAX_EVENT_FILES:
            raise ValueError(f"{path}: more than {MAX_EVENT_FILES:,} files")
    out: list[dict[str, Any]] = []
    for name in files:
        for i, text, problem in iter_lines(name, MAX_EVENT_LINE_BYTES):
            if text is not None and not text.strip():
                continue
            if text is None:
                raise ValueError(f"{name}:{i}: {problem}")
            obj = parse_json(text, ValueError, f"{name}:{i}", max_bytes=MAX_EVENT_LINE_BYTES,
                             max_depth=MAX_EVENT_DEPTH)
            if not isinstance(obj, dict):
                raise ValueError(f"{name}:{i}: expected a JSON object, got {type(obj).__name__}")
            out.append(obj)
            if len(out) > MAX_EVENT_LINES:
                raise ValueError(f"{path}: more than {MAX_EVENT_LINES:,} lines")
    return out


def _registry(args, existing: bool = False):
    """The staged registry the command names; ``existing``: a command that only reads refuses a folder that is not
    there (a mistyped --registry would otherwise list an empty registry and exit 0)."""
    from .stages import StagedRegistry

    root = Path(args.registry)
    if existing and not (root / INDEX).is_file():
        raise RegistryError(f"no registry at {root} (no {INDEX}): register a bundle first (taste2vec-lifecycle "
                            "register BUNDLE) or give --registry / $TASTE2VEC_REGISTRY")
    return StagedRegistry(root, **trust_from_args(args))


def cmd_register(args) -> int:
    _print(_registry(args).register(args.bundle, args.reason))
    return 0


def cmd_list(args) -> int:
    reg = _registry(args, existing=True)
    _print({"registry": str(args.registry), "models": [
        {"name": m["name"], "version": m["version"], "model_id": f"{m['name']}-{m['version']}",
         "stage": reg.stage(m["name"], m["version"]), "model_bytes": m.get("model_bytes"),
         "quantization": (m.get("quantization") or {}).get("variant"), "registered": m.get("registered")}
        for m in reg.registry.list()]})
    return 0


def cmd_show(args) -> int:
    reg = _registry(args, existing=True)
    entry = reg.registry.show(args.name, args.version)
    _print({**entry, "stage": reg.stage(args.name, entry["version"]),
            "history": [h for h in reg.history(args.name) if h.get("version") == entry["version"]]})
    return 0


def cmd_stage(args) -> int:
    reg = _registry(args)
    reg.transition(args.name, args.version, args.to, args.reason)
    _print({"name": args.name, "version": args.version, "stage": reg.stage(args.name, args.version)})
    return 0


def cmd_promote(args) -> int:
    old = _registry(args).promote(args.name, args.version, args.reason, allow_downgrade=args.allow_downgrade)
    _print({"production": args.version, "archived": old})
    return 0


def cmd_rollback(args) -> int:
    _print({"production": _registry(args).rollback(args.name, args.reason)})
    return 0


def cmd_status(args) -> int:
    reg = _registry(args, existing=True)
    _print({"name": args.name, "versions": {v: reg.stage(args.name, v) for v in reg.versions(args.name)},
            "history": reg.history(args.name)[-args.history:]})
    return 0


def cmd_rollout_init(args) -> int:
    cfg = RolloutConfig(args.experiment, (RolloutVariant("control", args.control, 100.0 - args.traffic),
                                          RolloutVariant("treatment", args.treatment, args.traffic)))
    _check_registered(args, cfg)  # every arm a registered bundle whose signature verifies against the trusted keys
    cfg.save(args.out)
    _print(cfg.to_dict())
    return 0


def _check_registered(args, cfg: RolloutConfig) -> None:
    """Every arm of ``cfg`` is a registered bundle whose signature verifies (Taste2VecError naming the arm)."""
    registry = _registry(args)
    for v in cfg.variants:
        try:
            registry.registry.load_id(v.model)
        except Taste2VecError as e:
            raise Taste2VecError(f"rollout arm {v.name!r}: {e}") from e


def _shares(items: list[str], cfg: RolloutConfig) -> dict[str, float]:
    """``NAME=PERCENT`` items; in a two-arm config naming one arm gives the other the rest."""
    shares: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            shares[name] = float(value)
        except ValueError:
            shares[name] = -1.0  # no number: refused below
        if not 0.0 <= shares[name] <= 100.0:
            raise ValueError(f"--traffic {item}: expected VARIANT=PERCENT with PERCENT in [0, 100]")
    rest = [v.name for v in cfg.variants if v.name not in shares]
    if len(rest) == 1 and set(shares) <= {v.name for v in cfg.variants}:
        shares[rest[0]] = 100.0 - sum(shares.values())
    return shares


def cmd_rollout_set(args) -> int:
    cfg = RolloutConfig.load(args.config)
    cfg = cfg.with_traffic(_shares(args.traffic, cfg))
    _check_registered(args, cfg)
    cfg.save(args.config)
    _print(cfg.to_dict())
    return 0


def cmd_assign(args) -> int:
    cfg = RolloutConfig.load(args.config)
    v = cfg.assign(args.user)
    _print({"experiment": cfg.experiment, "user": args.user, "variant": v.name, "model": v.model})
    return 0


def cmd_plan(args) -> int:
    from .experiment import SequentialDesign

    d = SequentialDesign.plan(args.p_control, args.mde, args.margin, args.alpha, args.power, args.looks)
    if args.out:
        Path(args.out).write_text(json.dumps(d.to_dict(), indent=1) + "\n", encoding="utf-8")
    _print({"design": d.to_dict(), "written": args.out,
            "meaning": {"mde": f"relative lift the test has {d.power:.0%} power to detect (design.lift): "
                               f"{d.p_control:.1%} -> {d.p_control * (1 + d.lift):.1%}",
                        "users_per_arm_max": d.max_n, "users_total_max": 2 * d.max_n,
                        "users_per_arm_per_look": d.n_per_look,
                        "boundaries": "z a side must exceed at look 1..looks",
                        "margin": f"a decision needs a difference beyond {d.margin:.0%} (relative)"}})
    return 0


def cmd_analyze(args) -> int:
    from .experiment import SequentialDesign, arm_metrics, decide

    d = SequentialDesign.from_dict(read_json(args.design, ValueError, "design"))
    metrics = arm_metrics(_jsonl(args.events), args.experiment)
    if args.control not in metrics or args.treatment not in metrics:
        raise ValueError(f"events have variants {sorted(metrics)}, need {args.control} and {args.treatment}")
    dec = decide(metrics[args.control]["like_rate"], metrics[args.treatment]["like_rate"], d)
    out: dict[str, Any] = {"decision": dec.to_dict(), "metrics": {
        k: {**v, "like_rate": v["like_rate"].rate, "retention_7d": v["retention_7d"].rate} for k, v in metrics.items()}}
    if args.apply and dec.action in ("promote", "rollback"):
        cfg = RolloutConfig.load(args.rollout)
        treat = cfg.variant(args.treatment)
        name, _, version = treat.model.rpartition("-")
        reg = _registry(args)
        if dec.action == "promote":
            if reg.stage(name, version) == "candidate":
                reg.transition(name, version, "staging", f"experiment {args.experiment}")
            reg.promote(name, version, f"experiment {args.experiment}: {dec.reason}")
            cfg = cfg.with_traffic({args.treatment: 100.0, args.control: 0.0})
        else:
            cfg = cfg.with_traffic({args.treatment: 0.0, args.control: 100.0})
            if reg.stage(name, version) in ("candidate", "staging"):
                reg.transition(name, version, "archived", f"experiment {args.experiment}: {dec.reason}")
        cfg.save(args.rollout)
        out["applied"] = {"rollout": cfg.to_dict(), "stage": reg.stage(name, version)}
    _print(out)
    return 0


def cmd_reference(args) -> int:
    import numpy as np

    from taste2vec import Embedder

    from .monitoring import EmbeddingStats

    recs = _jsonl(args.records)
    with Embedder.create_from_model_path(args.model, **trust_from_args(args)) as emb:
        vecs = np.stack([emb.embed(r.get("record", r)).embedding for r in recs])
        doc = {"model": emb.model_version, **EmbeddingStats.of(vecs).to_dict()}
    Path(args.out).write_text(json.dumps(doc) + "\n", encoding="utf-8")
    _print({"written": args.out, "model": doc["model"], "count": doc["count"]})
    return 0


def cmd_monitor(args) -> int:
    from .monitoring import EmbeddingStats, GuardRails, auto_rollback, check_guard_rails, model_health

    refs = {}
    for path in args.reference or []:
        d = read_json(path, ValueError, "reference stats")
        if not isinstance(d, dict):
            raise ValueError(f"reference stats {path}: expected a JSON object")
        refs[d["model"]] = EmbeddingStats.from_dict(d)
    health = model_health(_jsonl(args.events), refs)
    rails = GuardRails(args.p99_ms, args.max_error_rate, args.max_shift_sd)
    violations = check_guard_rails(health, rails)
    out: dict[str, Any] = {"health": {m: h.to_dict() for m, h in health.items()},
                           "violations": [str(v) for v in violations]}
    if args.apply:
        out["actions"] = auto_rollback(violations, args.rollout, _registry(args) if args.registry else None)
    _print(out)
    return 1 if violations and not args.apply else 0


def cmd_simulate(args) -> int:
    from .experiment import SequentialDesign, simulate

    d = SequentialDesign.plan(args.p_control, args.mde, args.margin, args.alpha, args.power, args.looks)
    res = {}
    for label, lift in (("equal", 0.0), ("better", args.true_lift), ("worse", -args.true_lift)):
        r = simulate(args.p_control, args.p_control * (1 + lift), d, args.repeats, args.seed)
        res[label] = {"true_lift": lift, **r.rates, "mean_n_per_arm": r.mean_n}
    _print({"design": d.to_dict(), "results": res})
    return 0


def cmd_simulate_world(args) -> int:
    from taste2vec import Embedder
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    from .experiment import SequentialDesign
    from .world_sim import ARMS, WorldSimConfig, like_probabilities, run_experiments

    world = TasteWorld(WorldConfig(seed=args.world_seed))
    cfg = WorldSimConfig(users=args.users)
    with (Embedder.create_from_model_path(args.model, **trust_from_args(args)) if args.model
          else Embedder.create_default()) as emb:
        probs = {name: like_probabilities(world, emb, tf, cfg) for name, tf in ARMS.items()}
    base = float(probs["shipped"].mean())
    design = SequentialDesign.plan(base, -args.mde, args.margin, args.alpha, args.power, args.looks)
    null = SequentialDesign.plan(base, -args.mde, 0.0, args.alpha, args.power, args.looks)
    scenarios = {
        "A/A (shipped vs shipped)": (probs["shipped"], probs["shipped"], design),
        "A/A, margin 0 (false-alarm check)": (probs["shipped"], probs["shipped"], null),
        "worse (shipped -> notes dropped)": (probs["shipped"], probs["notes-dropped"], design),
        "better (notes dropped -> shipped)": (probs["notes-dropped"], probs["shipped"], design),
    }
    _print({"users": cfg.users, "design": design.to_dict(),
            "results": {k: run_experiments(a, b, d, args.repeats, args.seed) for k, (a, b, d) in scenarios.items()}})
    return 0


def cmd_simulate_feedback(args) -> int:
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    from .finetune import world_feedback

    world = TasteWorld(WorldConfig(seed=args.world_seed))
    splits = args.user_split.split(",")
    users = [u for u in range(world.config.n_users) if world.user(u).split in splits]
    coffees = [c.id for c in world.coffees(args.coffee_split)]
    events, items = world_feedback(world, users, coffees, args.per_user, args.records_per_item, args.seed)
    Path(args.events).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    Path(args.items).write_text("".join(json.dumps({"item_id": i, "record": r}, ensure_ascii=False) + "\n"
                                        for i, rs in items.items() for r in rs), encoding="utf-8")
    _print({"events": len(events), "users": len(users), "items": len(items)})
    return 0


def cmd_finetune(args) -> int:
    from taste2vec_reference.noise import quiet_third_party  # the training stack: the toolkit's, loaded here only

    quiet_third_party()
    from .finetune import FinetuneConfig, finetune

    items: dict[str, list[dict]] = {}
    for row in _jsonl(args.items):
        items.setdefault(str(row["item_id"]), []).append(row["record"])
    cfg = FinetuneConfig(steps=args.steps, lr=args.lr, anchor_weight=args.anchor_weight, seed=args.seed)
    rep = finetune(args.checkpoint, _jsonl(args.events), items, args.out, cfg)
    _print({k: v for k, v in rep.items() if k != "history"})
    return 0


def cmd_spark_embed(args) -> int:
    from taste2vec.bundle import default_bundle_path

    from .spark_jobs import embed_records, session

    spark = session(args.master)
    try:
        df = embed_records(spark, args.records, args.model or default_bundle_path(), args.out, **trust_from_args(args))
        _print({"written": args.out, "rows": df.count(), "errors": df.where("error is not null").count()})
    finally:
        spark.stop()
    return 0


def cmd_spark_pairs(args) -> int:
    from .spark_jobs import preference_pairs, session

    spark = session(args.master)
    try:
        df = preference_pairs(spark, args.events, args.out, args.max_pairs_per_user)
        _print({"written": args.out, "pairs": df.count()})
    finally:
        spark.stop()
    return 0


def cmd_stream(args) -> int:
    from ..stream.job import StreamConfig, batch_summaries, start_stream
    from .spark_jobs import session

    trust = trust_from_args(args)
    cfg = StreamConfig(events=args.events, out=args.out, checkpoint=args.checkpoint, bundle=args.model,
                       trusted_keys=tuple(str(k) for k in trust["trusted_keys"]),
                       allow_unsigned=trust["allow_unsigned"], catalog=args.catalog, source=args.source,
                       bootstrap_servers=args.bootstrap_servers, topic=args.topic,
                       max_files_per_trigger=args.max_files_per_trigger, k=args.k, experiment=args.experiment)
    spark = session(args.master, "taste2vec-stream")
    try:
        query = start_stream(spark, cfg, available_now=not args.continuous)
        query.awaitTermination()
        if query.exception() is not None:
            raise RuntimeError(f"the stream failed: {query.exception()}")
    finally:
        spark.stop()
    done = batch_summaries(args.out)
    _print({"batches": len(done), "events": sum(b["events"] for b in done),
            "dead_letters": sum(b["dead_letters"] for b in done), "applied": sum(b["applied"] for b in done),
            "duplicates": sum(b["duplicates"] for b in done), "out": args.out})
    return 0


def _design_arguments(p: argparse.ArgumentParser, mde: float = 0.10) -> None:
    p.add_argument("--mde", type=float, default=mde, help="minimum detectable effect: relative lift to detect")
    p.add_argument("--margin", type=float, default=0.05,
                   help="decision margin, relative: smaller differences count as no difference")
    p.add_argument("--alpha", type=float, default=0.05, help="false-decision rate, both sides together")
    p.add_argument("--power", type=float, default=0.8, help="chance of detecting a true lift of --mde")
    p.add_argument("--looks", type=int, default=5, help="equally spaced analyses (group-sequential looks)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="taste2vec-lifecycle", description=__doc__.split("\n\n")[0],
               epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    reg = Parser(add_help=False)
    reg.add_argument("--registry", default=str(default_registry_path()),
                     help="registry folder ($TASTE2VEC_REGISTRY overrides the default)")
    add_trust_arguments(reg)
    why = Parser(add_help=False)
    why.add_argument("--reason", default="", help="recorded with the change in the stage history")

    s = sub.add_parser("register", parents=[reg, why], help="verify and register a bundle as a candidate")
    s.add_argument("bundle", help="bundle folder or .zip (e.g. runs/export/bundles/taste2vec-edge-1.4.2)")
    s.set_defaults(func=cmd_register)
    s = sub.add_parser("list", parents=[reg], help="registered models with their stages")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("show", parents=[reg], help="one registered version: index entry, stage, manifest, history")
    s.add_argument("name", help="model name, e.g. taste2vec-edge")
    s.add_argument("version", nargs="?", help="version (default: the highest)")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("stage", parents=[reg, why], help="manual stage change (candidate/staging/archived)")
    s.add_argument("name", help="model name"), s.add_argument("version", help="model version")
    s.add_argument("to", help="new stage: candidate, staging or archived (production: use promote)")
    s.set_defaults(func=cmd_stage)
    s = sub.add_parser("promote", parents=[reg, why], help="staging -> production (old production -> archived)")
    s.add_argument("name", help="model name"), s.add_argument("version", help="the staging version to promote")
    s.add_argument("--allow-downgrade", action="store_true",
                   help="promote a version older than production (anti-rollback refuses it otherwise; `rollback` "
                        "is the usual way back)")
    s.set_defaults(func=cmd_promote)
    s = sub.add_parser("rollback", parents=[reg, why], help="production -> archived, previous production back")
    s.add_argument("name", help="model name")
    s.set_defaults(func=cmd_rollback)
    s = sub.add_parser("status", parents=[reg], help="versions, stages and recent history")
    s.add_argument("name", help="model name")
    s.add_argument("--history", type=int, default=10, help="how many history events to show")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("rollout-init", parents=[reg],
                       help="write a two-arm rollout config (both arms registered, signatures verified)")
    s.add_argument("--experiment", required=True, help="experiment name (users are assigned by it)")
    s.add_argument("--control", required=True, help="registered model id of the control arm (name-version)")
    s.add_argument("--treatment", required=True, help="registered model id of the treatment arm (name-version)")
    s.add_argument("--traffic", type=float, default=10.0, help="percent of users on the treatment")
    s.add_argument("--out", required=True, help="rollout config JSON to write")
    s.set_defaults(func=cmd_rollout_init)
    s = sub.add_parser("rollout-set", parents=[reg], help="change variant traffic: --traffic treatment=50")
    s.add_argument("--config", required=True, help="rollout config JSON (rewritten with the next revision)")
    s.add_argument("--traffic", nargs="+", required=True, metavar="VARIANT=PERCENT",
                   help="new shares; in a two-arm config the arm not named gets the rest")
    s.set_defaults(func=cmd_rollout_set)
    s = sub.add_parser("assign", help="which variant and model a user gets")
    s.add_argument("--config", required=True, help="rollout config JSON")
    s.add_argument("--user", required=True, help="user id")
    s.set_defaults(func=cmd_assign)

    s = sub.add_parser("plan", help="sample size and sequential boundaries")
    _design_arguments(s)
    s.add_argument("--p-control", type=float, required=True, help="control arm's like rate, e.g. 0.30")
    s.add_argument("--out", help="design JSON to write (analyze --design reads it)")
    s.set_defaults(func=cmd_plan)
    s = sub.add_parser("analyze", parents=[reg], help="decide from feedback events; --apply acts on it")
    s.add_argument("--events", required=True,
                   help="feedback events: JSON lines, or a folder of them (the stream's feedback/)")
    s.add_argument("--experiment", required=True, help="experiment name in the events")
    s.add_argument("--design", required=True, help="design JSON from plan --out")
    s.add_argument("--control", default="control", help="control variant name")
    s.add_argument("--treatment", default="treatment", help="treatment variant name")
    s.add_argument("--rollout", help="rollout config JSON that --apply changes")
    s.add_argument("--apply", action="store_true",
                   help="act on the decision: promote (treatment to 100 %%) or roll back (to 0 %%)")
    s.set_defaults(func=cmd_analyze)
    s = sub.add_parser("simulate", help="Bernoulli experiments: equal / better / worse")
    _design_arguments(s)
    s.add_argument("--p-control", type=float, default=0.3, help="control like rate")
    s.add_argument("--true-lift", type=float, default=0.15, help="relative lift of the better/worse arms")
    s.add_argument("--repeats", type=int, default=1000, help="simulated experiments per scenario")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.set_defaults(func=cmd_simulate)
    s = sub.add_parser("simulate-world", help="experiments on the synthetic taste world")
    _design_arguments(s, mde=0.08)
    s.add_argument("--users", type=int, default=600, help="simulated users per experiment")
    s.add_argument("--repeats", type=int, default=300, help="experiments per scenario")
    s.add_argument("--model", help="bundle (default: the shipped one)")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    add_trust_arguments(s)
    s.add_argument("--world-seed", type=int, default=0, help="seed of the synthetic world")
    s.set_defaults(func=cmd_simulate_world)

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
    s.add_argument("--p99-ms", type=float, default=50.0, help="guard rail: on-device p99 latency")
    s.add_argument("--max-error-rate", type=float, default=0.01, help="guard rail: share of failed embeds")
    s.add_argument("--max-shift-sd", type=float, default=0.5,
                   help="guard rail: embedding mean shift vs the reference, in reference standard deviations")
    s.set_defaults(func=cmd_monitor)

    s = sub.add_parser("simulate-feedback", help="synthetic app feedback events + item records from the world")
    s.add_argument("--events", required=True, help="events JSON-lines file to write")
    s.add_argument("--items", required=True, help="item records JSON-lines file to write")
    s.add_argument("--user-split", default="val", help="comma-separated world splits of the users")
    s.add_argument("--coffee-split", default="train", help="world split of the coffees shown")
    s.add_argument("--per-user", type=int, default=24, help="events per user")
    s.add_argument("--records-per-item", type=int, default=3, help="tasting records written per item")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--world-seed", type=int, default=0, help="seed of the synthetic world")
    s.set_defaults(func=cmd_simulate_feedback)
    s = sub.add_parser("finetune", help="fine-tune the reference model on feedback (preference + anchor loss)")
    s.add_argument("--checkpoint", default="runs/reference/checkpoint", help="reference checkpoint folder")
    s.add_argument("--events", required=True, help="feedback events JSON lines")
    s.add_argument("--items", required=True, help="item records JSON lines")
    s.add_argument("--out", required=True, help="folder for the fine-tuned checkpoint and report")
    s.add_argument("--steps", type=int, default=300, help="optimizer steps")
    s.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    s.add_argument("--anchor-weight", type=float, default=1.0, help="weight of the stay-close-to-the-teacher loss")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.set_defaults(func=cmd_finetune)

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (Taste2VecError, ValueError, KeyError, OSError) as e:
        print(f"taste2vec-lifecycle {args.command}: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # a command of the ML toolkit or the spark extra on a light backend install
        hint = _NEEDS.get((e.name or "").split(".")[0])
        if hint is None:
            raise
        print(f"taste2vec-lifecycle {args.command}: needs {e.name}: {hint}", file=sys.stderr)
        return 2


_NEEDS = {"torch": "pip install . ./backend ./toolkit (the ML toolkit)",
          "taste2vec_reference": "pip install . ./backend ./toolkit (the ML toolkit)",
          "taste2vec_convert": "pip install . ./backend ./toolkit (the ML toolkit)",
          "pyspark": "pip install . './backend[spark]'"}


if __name__ == "__main__":
    sys.exit(main())
