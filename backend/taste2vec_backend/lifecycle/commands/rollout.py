"""``taste2vec-lifecycle``: rollout configs: rollout-init, rollout-set, assign."""

from __future__ import annotations

from typing import Any

from taste2vec.errors import Taste2VecError
from taste2vec.helpformat import Parser
from taste2vec.rollout import RolloutConfig, RolloutVariant

from .common import emit, open_registry


def cmd_rollout_init(args) -> int:
    cfg = RolloutConfig(args.experiment, (RolloutVariant("control", args.control, 100.0 - args.traffic),
                                          RolloutVariant("treatment", args.treatment, args.traffic)))
    _check_registered(args, cfg)  # every arm a registered bundle whose signature verifies against the trusted keys
    cfg.save(args.out)
    emit(cfg.to_dict())
    return 0


def _check_registered(args, cfg: RolloutConfig) -> None:
    """Every arm of ``cfg`` is a registered bundle whose signature verifies (Taste2VecError naming the arm)."""
    registry = open_registry(args)
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
    emit(cfg.to_dict())
    return 0


def cmd_assign(args) -> int:
    cfg = RolloutConfig.load(args.config)
    v = cfg.assign(args.user)
    emit({"experiment": cfg.experiment, "user": args.user, "variant": v.name, "model": v.model})
    return 0


def add_commands(sub: Any, reg: Parser, why: Parser) -> None:
    """Rollout configs: the subcommands."""
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
