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
import sys

from taste2vec.errors import Taste2VecError
from taste2vec.helpformat import Parser
from taste2vec.registry import default_registry_path
from taste2vec.signing import add_trust_arguments

from .commands import experiments, learning, monitoring, registry, rollout, spark

AREAS = (registry, rollout, experiments, monitoring, learning, spark)  # one module per area, in --help order


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
    for area in AREAS:
        area.add_commands(sub, reg, why)
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
