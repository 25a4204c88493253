"""``taste2vec-lifecycle``: learning from feedback: simulate-feedback (synthetic events) and finetune (the teacher on them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taste2vec.helpformat import Parser

from .common import emit, read_jsonl


def cmd_simulate_feedback(args) -> int:
    from taste2vec_reference.synthetic import TasteWorld, WorldConfig

    from ..finetune import world_feedback

    world = TasteWorld(WorldConfig(seed=args.world_seed))
    splits = args.user_split.split(",")
    users = [u for u in range(world.config.n_users) if world.user(u).split in splits]
    coffees = [c.id for c in world.coffees(args.coffee_split)]
    events, items = world_feedback(world, users, coffees, args.per_user, args.records_per_item, args.seed)
    Path(args.events).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    Path(args.items).write_text("".join(json.dumps({"item_id": i, "record": r}, ensure_ascii=False) + "\n"
                                        for i, rs in items.items() for r in rs), encoding="utf-8")
    emit({"events": len(events), "users": len(users), "items": len(items)})
    return 0


def cmd_finetune(args) -> int:
    from taste2vec_reference.noise import quiet_third_party  # the training stack: the toolkit's, loaded here only

    quiet_third_party()
    from ..finetune import FinetuneConfig, finetune

    items: dict[str, list[dict]] = {}
    for row in read_jsonl(args.items):
        items.setdefault(str(row["item_id"]), []).append(row["record"])
    cfg = FinetuneConfig(steps=args.steps, lr=args.lr, anchor_weight=args.anchor_weight, seed=args.seed)
    rep = finetune(args.checkpoint, read_jsonl(args.events), items, args.out, cfg)
    emit({k: v for k, v in rep.items() if k != "history"})
    return 0


def add_commands(sub: Any, reg: Parser, why: Parser) -> None:
    """Learning from feedback: the subcommands."""
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
