"""``taste2vec-reference``: build the lexicon, generate data, train, evaluate, and run the demo.

    taste2vec-reference generate --split train -n 5          # JSON lines of synthetic records
    taste2vec-reference train                                 # -> runs/reference/checkpoint (resumable)
    taste2vec-reference train --records my_app.jsonl          # also learn from your own labelled records
    taste2vec-reference generate --labelled --users 60 -o my_app.jsonl   # a records file from the synthetic world
    taste2vec-reference validate --records my_app.jsonl       # every bad line and the counts, no training
    taste2vec-reference evaluate --checkpoint runs/reference/checkpoint
    taste2vec-reference demo --out runs/demo                  # data -> train -> evaluate -> table
    taste2vec-reference repro-check                           # same bytes natively and on emulated Intel CPUs?
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .determinism import BUILD_THREADS, pin_environment, pin_torch
from .noise import quiet_third_party


def _world(args):
    from .synthetic import WorldConfig

    return WorldConfig(seed=args.seed, n_coffees=args.coffees, n_users=args.users)


def _add_world(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="world and training seed")
    p.add_argument("--coffees", type=int, default=2000, help="coffees in the synthetic world")
    p.add_argument("--users", type=int, default=600, help="users giving feedback")


def cmd_build_lexicon(args) -> int:
    from .lexicon_build import LEXICON_OUT, build_lexicon_file

    path, digest = build_lexicon_file(Path(args.out) if args.out else LEXICON_OUT,
                                      Path(args.wheel) if args.wheel else None)
    print(f"wrote {path} (sha256 {digest})")
    return 0


def cmd_generate(args) -> int:
    from .synthetic import TasteWorld

    world = TasteWorld(_world(args))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        if args.labelled:
            for row in world.labelled_records(args.users):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            return 0
        for r in world.iter_records(args.split, n=args.n, start=args.start):
            c = world.coffee(r.coffee_id)
            out.write(json.dumps({"coffee_id": r.coffee_id, "origin": c.origin, "process": c.process,
                                  "taster_id": r.taster_id, "lang": r.lang, "record": r.record.to_dict()},
                                 ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _train_config(args):
    from .text_tuning import TextTuneConfig
    from .train import TrainConfig

    layers = 0 if args.no_real else args.text_layers
    steps = TrainConfig.steps if args.steps is None else args.steps
    return TrainConfig(seed=args.seed, world=_world(args), steps=steps, pool_per_coffee=args.pool,
                       use_real_reviews=not args.no_real, records=args.records, skip_invalid=args.skip_invalid,
                       text=TextTuneConfig(seed=args.seed, layers=layers, epochs=args.text_epochs))


def _read_records(cfg):
    """Read the config's records file once (validated; skipped lines reported), or None."""
    if not cfg.records:
        return None
    from .train import read_training_records

    rf = read_training_records(cfg)
    s = rf.summary()
    print(f"== records {cfg.records}: {s['records']} valid ({s['skipped']} skipped), {s['items']} items "
          f"({s['items_with_pairs']} with two or more records), {s['users']} users; split by item "
          f"{s['split_records']}")
    for e in rf.skipped[:10]:
        print(f"   skipped {e}")
    if len(rf.skipped) > 10:
        print(f"   ... and {len(rf.skipped) - 10} more")
    return rf


def cmd_validate(args) -> int:
    """Every line of a records file checked, no training: each bad line (line, field, reason), then the counts.
    Exit 0 when every line is valid, 1 when some are not."""
    from .records_file import scan_records

    rf = scan_records(args.records)
    for e in rf.skipped[:args.max_lines]:
        said = e.reason if e.reason.startswith(f"{e.field}:") else f"{e.field}: {e.reason}"
        print(f"{e.path}:{e.line}: {said}", file=sys.stderr)
    if len(rf.skipped) > args.max_lines:
        print(f"... and {len(rf.skipped) - args.max_lines} more bad lines (--max-lines)", file=sys.stderr)
    s = rf.summary()
    s["valid"] = not rf.skipped and bool(rf.records)
    if not rf.records:
        s["problem"] = "no valid records: training would stop at once"
    elif s["items_with_pairs"] == 0:
        s["problem"] = "no item has two records: the file adds no positive pairs to training"
    print(json.dumps(s, indent=1, ensure_ascii=False))
    return 0 if s["valid"] else 1


def cmd_train(args) -> int:
    from .evaluate import format_table, run_evaluation
    from .synthetic import TasteWorld
    from .train import build_training_data, prepare_text_encoder, train
    from taste2vec.features import FeatureExtractor

    pin_torch(args.threads)
    cfg = _train_config(args)
    rf = _read_records(cfg)
    world = TasteWorld(cfg.world)
    featurizer = prepare_text_encoder(cfg, args.out, world)
    data = build_training_data(cfg, world, featurizer, FeatureExtractor(world.lexicon), records_file=rf)
    model, hist = train(cfg, args.out, resume=not args.no_resume, data=data, featurizer=featurizer)
    print(f"checkpoint: {Path(args.out) / 'checkpoint'}  final loss {hist[-1]['loss']:.4f}")
    if rf is not None:  # the held-out items of the same file
        res = run_evaluation(model, cfg.world, args.out, real=False, featurizer=featurizer, records_file=rf)
        print(format_table(res))
    return 0


def cmd_evaluate(args) -> int:
    from .checkpoint import featurizer_for, load_checkpoint
    from .evaluate import format_table, run_evaluation
    from .train import TrainConfig

    model, meta = load_checkpoint(args.checkpoint)
    cfg = TrainConfig.from_dict(meta["train_config"])
    rf = _read_records(cfg) if cfg.records and Path(cfg.records).exists() else None
    res = run_evaluation(model, cfg.world, args.out or Path(args.checkpoint).parent, real=not args.no_real,
                         featurizer=featurizer_for(args.checkpoint), records_file=rf)
    print(format_table(res))
    return 0


def cmd_demo(args) -> int:
    from .evaluate import format_table, run_evaluation
    from .synthetic import TasteWorld
    from .train import build_training_data, prepare_text_encoder, train
    from taste2vec.features import FeatureExtractor

    t0 = time.time()
    pin_torch(args.threads)
    cfg = _train_config(args)
    world = TasteWorld(cfg.world)
    print(f"== Taste2Vec reference demo: synthetic world of {cfg.world.n_coffees} coffees "
          f"({len(world.coffees('train'))} train / {len(world.coffees('val'))} val / "
          f"{len(world.coffees('test'))} test), seed {cfg.seed}")
    for k in range(3):
        r = world.record(7, k)
        print(f"   coffee 7 ({world.coffee(7).origin}, {world.coffee(7).process}), tasting {k} [{r.lang}]: "
              f"{r.record.notes!r}  metrics={dict(list(r.record.metrics.items())[:4])}  context={len(r.record.context)}")
    rf = _read_records(cfg)
    featurizer = prepare_text_encoder(cfg, args.out, world)
    if featurizer.tuned:
        h = featurizer.tuning.get("history", [])
        print(f"== text encoder fine-tuned on real reviews in {time.time() - t0:.0f}s: validation half-vs-half "
              f"R@10 {h[0]['val_recall@10']:.3f} -> {h[-1]['val_recall@10']:.3f}")
    data = build_training_data(cfg, world, featurizer, FeatureExtractor(world.lexicon), records_file=rf)
    print(f"== data ready in {time.time() - t0:.0f}s: {len(data.synthetic_rows)} synthetic tastings, {len(data.users)} "
          f"users, {len(data.real)} real review pairs, {len(data.records)} items from your records")
    model, hist = train(cfg, args.out, resume=not args.no_resume, data=data, featurizer=featurizer)
    print(f"== trained in {time.time() - t0:.0f}s total; loss {hist[0]['loss']:.3f} -> {hist[-1]['loss']:.3f}")
    res = run_evaluation(model, cfg.world, args.out, real=not args.no_real, featurizer=featurizer, records_file=rf)
    print(f"== evaluation ({time.time() - t0:.0f}s total) -> {Path(args.out) / 'evaluation.json'}, "
          f"{Path(args.out) / 'evaluation.png'}")
    print(format_table(res))
    return 0


def cmd_repro_run(args) -> int:
    from .repro_check import mini_build

    pin_torch()
    print(json.dumps(mini_build(args.out, args.steps)))
    return 0


def cmd_repro_check(args) -> int:
    from .repro_check import DEFAULT_CPUS, ReproCheckError, repro_check

    try:
        res = repro_check(args.out, args.cpu if args.cpu is not None else DEFAULT_CPUS, args.steps, args.timeout,
                          strict=not args.portable_only)
    except ReproCheckError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "repro_check.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print("identical on every CPU" if res["identical"] else "DIFFERENT bytes: the build is not reproducible here")
    return 0 if res["identical"] else 1


def build_parser() -> argparse.ArgumentParser:
    from taste2vec.helpformat import Parser, int_at_least  # not at the top: main() pins the math before numpy loads

    from .repro_check import DEFAULT_CPUS

    ap = Parser(prog="taste2vec-reference", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("build-lexicon", help="rebuild the SDK's sensory lexicon from the flavour wheel")
    p.add_argument("--wheel", help="flavor_wheel.json (default: ../shared/data/flavor_wheel/flavor_wheel.json)")
    p.add_argument("--out", help="output file (default: sdk/taste2vec/assets/sensory_lexicon.json)")
    p.set_defaults(func=cmd_build_lexicon)
    p = sub.add_parser("generate", help="stream synthetic tasting records as JSON lines")
    _add_world(p)
    p.add_argument("--split", choices=("train", "val", "test"), default="train", help="which split's coffees")
    p.add_argument("-n", type=int, default=10, help="number of records")
    p.add_argument("--start", type=int, default=0, help="index of the first record in the stream")
    p.add_argument("--output", "-o", help="file to write (default stdout)")
    p.add_argument("--labelled", action="store_true",
                   help="write an app log in the bring-your-own records format instead (item_id, user_id, liked + "
                        "record) for --users users, every split")
    p.set_defaults(func=cmd_generate)
    for name, func, helptext in (("train", cmd_train, "train (or resume) a reference model"),
                                 ("demo", cmd_demo, "data -> train a small reference -> evaluate, print the table")):
        p = sub.add_parser(name, help=helptext)
        _add_world(p)
        p.add_argument("--out", default="runs/demo" if name == "demo" else "runs/reference",
                       help="run folder: the checkpoint goes to OUT/checkpoint (what taste2vec-convert export reads)")
        p.add_argument("--steps", type=int_at_least(1),
                       help="training steps (at least 1; default: the training recipe's, TrainConfig.steps)")
        p.add_argument("--pool", type=int_at_least(1), default=6, help="tastings per training coffee")
        p.add_argument("--no-real", action="store_true", help="skip the real review / CQI data (and text tuning)")
        p.add_argument("--no-resume", action="store_true", help="start from scratch even if a checkpoint exists")
        p.add_argument("--records", metavar="FILE.jsonl",
                       help="also train on your own records: one JSON object per line, a record-spec record plus "
                            "item_id, optional user_id and liked/rating (README: bring your own records)")
        p.add_argument("--skip-invalid", action="store_true",
                       help="skip (and count) invalid lines of --records instead of stopping at the first")
        p.add_argument("--threads", type=int_at_least(1), default=BUILD_THREADS,
                       help="torch threads (fixed for reproducible bytes)")
        p.add_argument("--text-layers", type=int, default=6,
                       help="top MiniLM layers fine-tuned on real text before training (0 = keep it frozen; "
                            "6 = all)")
        epochs = 1 if name == "demo" else 2  # the demo keeps to a few minutes; one epoch gives most of the gain
        p.add_argument("--text-epochs", type=int_at_least(1), default=epochs,
                       help="text-encoder fine-tuning epochs")
        p.set_defaults(func=func)
    p = sub.add_parser("validate", help="check a records file without training: every bad line, then counts",
                       description="Check every line of a bring-your-own records file (--records of train) without "
                                   "training: each bad line as FILE:LINE: FIELD: REASON on stderr, then a JSON "
                                   "summary (records, skipped and by field, items, pairs, users, split) on stdout. "
                                   "Exit 0 when every line is valid, 1 when any is not.")
    p.add_argument("--records", required=True, metavar="FILE.jsonl", help="the records file")
    p.add_argument("--max-lines", type=int_at_least(0), default=100, help="bad lines listed (all are counted)")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("evaluate", help="evaluate a checkpoint -> evaluation.json / .png")
    p.add_argument("--checkpoint", default="runs/reference/checkpoint",
                   help="checkpoint folder (taste2vec-reference train writes OUT/checkpoint)")
    p.add_argument("--out", help="output folder (default: the checkpoint's parent)")
    p.add_argument("--no-real", action="store_true", help="skip the real review / CQI data")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("repro-check", help="a tiny training run natively and under qemu-x86_64 as other CPUs: "
                                           "same bytes? (exit 1 if not)")
    p.add_argument("--cpu", action="append", help=f"a qemu CPU model, repeatable (default: {' '.join(DEFAULT_CPUS)})")
    p.add_argument("--steps", type=int_at_least(1), default=20, help="training steps of the tiny run")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    p.add_argument("--portable-only", action="store_true",
                   help="only the always-on pins, not TASTE2VEC_STRICT_MATH (shows what strict mode is for)")
    p.add_argument("--out", default="runs/repro-check", help="folder for repro_check.json")
    p.set_defaults(func=cmd_repro_check)
    p = sub.add_parser("repro-run", help="one run of repro-check, as it runs under each CPU: train tiny, print "
                                         "the hashes", description="One run of repro-check: train tiny, print the hashes.")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--steps", type=int, default=20, help="training steps")
    p.set_defaults(func=cmd_repro_run)
    return ap


def main(argv: list[str] | None = None) -> int:
    """The command line. Run as a program (``argv`` None), it first pins the floating-point paths
    (:mod:`.determinism`) so that a training run gives the same bytes on any x86-64 CPU."""
    if argv is None:
        pin_environment()
    quiet_third_party()
    from .errors import ToolkitError
    from .records_file import RecordsFileError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RecordsFileError as e:
        print(f"error: {e}\n(fix the line, or pass --skip-invalid to skip and count bad lines; taste2vec-reference "
              "validate --records FILE lists every bad line)", file=sys.stderr)
        return 2
    except ToolkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `generate | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
