"""``taste2vec-lifecycle``: the registry: register, list, show, stage, promote, rollback, status."""

from __future__ import annotations

from typing import Any

from taste2vec.helpformat import Parser

from .common import emit, open_registry


def cmd_register(args) -> int:
    emit(open_registry(args).register(args.bundle, args.reason))
    return 0


def cmd_list(args) -> int:
    reg = open_registry(args, existing=True)
    emit({"registry": str(args.registry), "models": [
        {"name": m["name"], "version": m["version"], "model_id": f"{m['name']}-{m['version']}",
         "stage": reg.stage(m["name"], m["version"]), "model_bytes": m.get("model_bytes"),
         "quantization": (m.get("quantization") or {}).get("variant"), "registered": m.get("registered")}
        for m in reg.registry.list()]})
    return 0


def cmd_show(args) -> int:
    reg = open_registry(args, existing=True)
    entry = reg.registry.show(args.name, args.version)
    emit({**entry, "stage": reg.stage(args.name, entry["version"]),
            "history": [h for h in reg.history(args.name) if h.get("version") == entry["version"]]})
    return 0


def cmd_stage(args) -> int:
    reg = open_registry(args)
    reg.transition(args.name, args.version, args.to, args.reason)
    emit({"name": args.name, "version": args.version, "stage": reg.stage(args.name, args.version)})
    return 0


def cmd_promote(args) -> int:
    old = open_registry(args).promote(args.name, args.version, args.reason, allow_downgrade=args.allow_downgrade)
    emit({"production": args.version, "archived": old})
    return 0


def cmd_rollback(args) -> int:
    emit({"production": open_registry(args).rollback(args.name, args.reason)})
    return 0


def cmd_status(args) -> int:
    reg = open_registry(args, existing=True)
    emit({"name": args.name, "versions": {v: reg.stage(args.name, v) for v in reg.versions(args.name)},
            "history": reg.history(args.name)[-args.history:]})
    return 0


def add_commands(sub: Any, reg: Parser, why: Parser) -> None:
    """The registry: the subcommands."""
    s = sub.add_parser("register", parents=[reg, why], help="verify and register a bundle as a candidate")
    s.add_argument("bundle", help="bundle folder or .zip (e.g. runs/export/bundles/taste2vec-edge-1.8.0)")
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
