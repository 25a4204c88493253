"""``taste2vec-lifecycle``: experiment design, analysis and simulation: plan, analyze, simulate, simulate-world."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from taste2vec.fileio import read_json
from taste2vec.helpformat import Parser
from taste2vec.rollout import RolloutConfig
from taste2vec.signing import add_trust_arguments, trust_from_args

from .common import emit, open_registry, read_jsonl


def cmd_plan(args) -> int:
    from ..experiment import SequentialDesign

    d = SequentialDesign.plan(args.p_control, args.mde, args.margin, args.alpha, args.power, args.looks)
    if args.out:
        Path(args.out).write_text(json.dumps(d.to_dict(), indent=1) + "\n", encoding="utf-8")
    emit({"design": d.to_dict(), "written": args.out,
            "meaning": {"mde": f"relative lift the test has {d.power:.0%} power to detect (design.lift): "
                               f"{d.p_control:.1%} -> {d.p_control * (1 + d.lift):.1%}",
                        "users_per_arm_max": d.max_n, "users_total_max": 2 * d.max_n,
                        "users_per_arm_per_look": d.n_per_look,
                        "boundaries": "z a side must exceed at look 1..looks",
                        "margin": f"a decision needs a difference beyond {d.margin:.0%} (relative)"}})
    return 0


def cmd_analyze(args) -> int:
    from ..experiment import SequentialDesign, arm_metrics, decide

    d = SequentialDesign.from_dict(read_json(args.design, ValueError, "design"))
    metrics = arm_metrics(read_jsonl(args.events), args.experiment)
    if args.control not in metrics or args.treatment not in metrics:
        raise ValueError(f"events have variants {sorted(metrics)}, need {args.control} and {args.treatment}")
    dec = decide(metrics[args.control]["like_rate"], metrics[args.treatment]["like_rate"], d)
    out: dict[str, Any] = {"decision": dec.to_dict(), "metrics": {
        k: {**v, "like_rate": v["like_rate"].rate, "retention_7d": v["retention_7d"].rate} for k, v in metrics.items()}}
    if args.apply and dec.action in ("promote", "rollback"):
        cfg = RolloutConfig.load(args.rollout)
        treat = cfg.variant(args.treatment)
        name, _, version = treat.model.rpartition("-")
        reg = open_registry(args)
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
    emit(out)
    return 0


def cmd_simulate(args) -> int:
    from ..experiment import SequentialDesign, simulate

    d = SequentialDesign.plan(args.p_control, args.mde, args.margin, args.alpha, args.power, args.looks)
    res = {}
    for label, lift in (("equal", 0.0), ("better", args.true_lift), ("worse", -args.true_lift)):
        r = simulate(args.p_control, args.p_control * (1 + lift), d, args.repeats, args.seed)
        res[label] = {"true_lift": lift, **r.rates, "mean_n_per_arm": r.mean_n}
    emit({"design": d.to_dict(), "results": res})
    return 0


def cmd_simulate_world(args) -> int:
    from taste2vec import Embedder
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    from ..experiment import SequentialDesign
    from ..world_sim import ARMS, WorldSimConfig, like_probabilities, run_experiments

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
    emit({"users": cfg.users, "design": design.to_dict(),
            "results": {k: run_experiments(a, b, d, args.repeats, args.seed) for k, (a, b, d) in scenarios.items()}})
    return 0


def _design_arguments(p: argparse.ArgumentParser, mde: float = 0.10) -> None:
    p.add_argument("--mde", type=float, default=mde, help="minimum detectable effect: relative lift to detect")
    p.add_argument("--margin", type=float, default=0.05,
                   help="decision margin, relative: smaller differences count as no difference")
    p.add_argument("--alpha", type=float, default=0.05, help="false-decision rate, both sides together")
    p.add_argument("--power", type=float, default=0.8, help="chance of detecting a true lift of --mde")
    p.add_argument("--looks", type=int, default=5, help="equally spaced analyses (group-sequential looks)")


def add_commands(sub: Any, reg: Parser, why: Parser) -> None:
    """Experiment design, analysis and simulation: the subcommands."""
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
