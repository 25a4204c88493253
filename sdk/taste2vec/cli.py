"""``taste2vec``: the SDK on the command line. JSON on stdout; a clear message and exit 2 on bad input.

    taste2vec embed --notes "bright, jasmine" --metric acidity=7.5
    taste2vec embed --record record.json            # a record, or a list of records; '-' reads stdin
    taste2vec embed --jsonl records.jsonl           # one result per line, errors per line (as make kotlin-embed)
    taste2vec diff python.jsonl kotlin.jsonl        # two such result files, line by line
    taste2vec similar a.json b.json                 # cosine of two records
    taste2vec similar a.json --catalog              # nearest coffees of the demo catalog
    taste2vec recommend --rate cr-0017e22d08=5 --disliked cr-00422b10ff --k 5 --diversity 0.3
    taste2vec recommend --profile me.json --k 5
    taste2vec info                                  # the bundle's manifest summary
    taste2vec golden --out golden.json | --check golden.json | --port-dir build/golden
    taste2vec demo                                  # EN/KO records, similarities, a recommendation, latency

The HTTP server is taste2vec-serve (pip install . './backend[serve]').
Add --verbose to see the LiteRT runtime's own log lines (hidden by default).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from .bundle import ModelBundle, default_bundle_path
from .curation import Catalog, CatalogError, recommend
from .embedder import BaseOptions, Embedder, EmbedderOptions
from .errors import RecordValidationError, Taste2VecError, UsageError
from .fileio import parse_json, read_json
from .golden import compare_golden, sample_records, write_golden
from .lines import diff_lines, dumps, embed_lines, read_results
from .port_golden import write_port_goldens
from .helpformat import Parser
from .profile import TasteProfile
from .runtime import set_verbose
from .signing import add_trust_arguments, trust_from_args


def _embedder(args: argparse.Namespace, **options: Any) -> Embedder:
    base = BaseOptions(model_asset_path=args.model or default_bundle_path(), num_threads=args.threads,
                       **trust_from_args(args))
    return Embedder.create_from_options(EmbedderOptions(base, **options))


MAX_INPUT_BYTES = 64 * 1024 * 1024  # a JSON list of records; each record is validated on its own


def _read_json(src: str) -> Any:
    """JSON from a file or ``-`` (stdin), bounded in size and depth; UsageError otherwise."""
    if src == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)  # bytes from a real stdin, text from a replaced one
        return parse_json(stream.read(MAX_INPUT_BYTES + 1), UsageError, "stdin", MAX_INPUT_BYTES)
    return read_json(src, UsageError, "JSON input", MAX_INPUT_BYTES)


def _parse_metric(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--metric {text!r}: expected NAME=VALUE, e.g. acidity=7.5")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise UsageError(f"--metric {text!r}: {value!r} is not a number") from None


def _records_from_args(args: argparse.Namespace) -> tuple[list[Any], bool]:
    """The records to embed and whether the input was a single record."""
    if args.record is not None:
        if args.notes is not None or args.metric or args.context:
            raise UsageError("give either --record or --notes/--metric/--context, not both")
        data = _read_json(args.record)
        return (data, False) if isinstance(data, list) else ([data], True)
    rec: dict[str, Any] = {"notes": args.notes or ""}
    if args.metric:
        rec["metrics"] = dict(_parse_metric(m) for m in args.metric)
    if args.context:
        ctx = parse_json(args.context, UsageError, "--context") if args.context.lstrip().startswith(("[", "{")) \
            else _read_json(args.context)
        rec["context"] = ctx if isinstance(ctx, list) else [ctx]
    return [rec], True


def _print(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


# ---------------------------------------------------------------------- commands
def cmd_embed(args: argparse.Namespace) -> int:
    if args.jsonl is not None:
        return _embed_jsonl(args)
    records, single = _records_from_args(args)
    with _embedder(args, quantize=args.quantize) as emb:
        results = [r.to_dict() for r in emb.embed_batch(records)]
    _print(results[0] if single else results)
    return 0


def _embed_jsonl(args: argparse.Namespace) -> int:
    """One JSON result per input line, flushed as it goes (taste2vec.lines: the contract kotlin-embed shares)."""
    if args.record is not None or args.notes is not None or args.metric or args.context or args.quantize:
        raise UsageError("--jsonl reads every record from its file: no --record/--notes/--metric/--context/--quantize")
    try:
        stream = sys.stdin.buffer if args.jsonl == "-" else open(args.jsonl, "rb")
    except OSError as e:
        raise UsageError(f"{args.jsonl}: cannot read ({e.strerror or e})") from None
    with stream, _embedder(args) as emb:
        out = sys.stdout.buffer
        for result in embed_lines(emb, stream):
            out.write(dumps(result))
            out.flush()
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Two JSON-lines result files, line by line; exit 1 when any line differs."""
    try:
        d = diff_lines(read_results(args.expected), read_results(args.got), args.min_cosine)
    except OSError as e:
        raise UsageError(f"cannot read ({e.strerror or e}): {e.filename}") from None
    for line in d.differences[:args.show]:
        print(line)
    print(f"{'same' if d.ok else 'DIFFERENT'}: {d.summary()}")
    return 0 if d.ok else 1


def cmd_similar(args: argparse.Namespace) -> int:
    a = _read_json(args.a)
    with _embedder(args) as emb:
        ra = emb.embed(a)
        if args.b is not None:
            rb = emb.embed(_read_json(args.b))
            _print({"model_version": emb.model_version, "cosine_similarity": Embedder.cosine_similarity(ra, rb)})
            return 0
        if args.catalog is None:
            raise UsageError("give a second record, or --catalog [PATH] to search a catalog")
        cat = Catalog.default() if args.catalog == "default" else Catalog.load(args.catalog)
        if cat.model_version != emb.model_version:
            raise UsageError(f"catalog was embedded with {cat.model_version}, the model is {emb.model_version}")
        _print({"model_version": emb.model_version, "similar": [
            {"item": it.to_dict(), "cosine_similarity": round(s, 4)} for it, s in cat.similar(ra, args.k)]})
    return 0


def _feedback_profile(args: argparse.Namespace, cat: Catalog) -> TasteProfile:
    profile = TasteProfile.load(args.profile) if args.profile else TasteProfile(cat.embeddings.shape[1])
    events: list[tuple[str, dict[str, Any]]] = [(i, {"liked": True}) for i in args.liked or []]
    events += [(i, {"liked": False}) for i in args.disliked or []]
    for r in args.rate or []:
        item, sep, stars = r.partition("=")
        if not sep:
            raise UsageError(f"--rate {r!r}: expected ITEM_ID=STARS, e.g. cr-0017e22d08=4")
        try:
            events.append((item, {"rating": float(stars)}))
        except ValueError:
            raise UsageError(f"--rate {r!r}: {stars!r} is not a number") from None
    for item_id, kw in events:
        if item_id not in cat:
            raise UsageError(f"unknown catalog item {item_id!r} (see the catalog's ids: taste2vec similar ... "
                             "--catalog, or the catalog file)")
        if profile.model_version is None:
            profile.model_version = cat.model_version
        profile.add_feedback(cat.embedding(item_id), item_id=item_id, attributes=cat.item(item_id).attributes, **kw)
    return profile


def cmd_recommend(args: argparse.Namespace) -> int:
    cat = Catalog.default() if args.catalog is None else Catalog.load(args.catalog)
    profile = _feedback_profile(args, cat)
    rated = {f.item_id for f in profile.buffer if f.item_id}
    picks = recommend(profile, cat, k=args.k, exclude=set(args.exclude or []) | rated, diversity=args.diversity)
    if args.save_profile:
        profile.save(args.save_profile)
    _print({"model_version": cat.model_version, "feedback_events": profile.n_events,
            "top_attributes": [a for a, _ in profile.top_attributes()],
            "recommendations": [p.to_dict() for p in picks]})
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    b = ModelBundle.load(args.model or default_bundle_path(), **trust_from_args(args))
    m = b.manifest
    if args.path:
        print(b.origin)
        return 0
    if args.full:
        _print(m)
        return 0
    _print({"model_version": b.model_id, "path": b.origin, "latency_budget": b.latency_budget,
            "trusted_as": b.trusted_as, "created": m.get("created"),
            "quantization": m.get("quantization"), "embedding": m.get("embedding"),
            "signatures": [s["name"] for s in m.get("signatures", [])],
            "record_spec": m.get("record_spec"), "tokenizer": m.get("tokenizer"), "lexicon": m.get("lexicon"),
            "files": {k: v["size"] for k, v in m["files"].items()}, "parity": m.get("parity"),
            "quality": m.get("quality")})
    return 0


def cmd_golden(args: argparse.Namespace) -> int:
    if sum(x is not None for x in (args.out, args.check, args.port_dir)) != 1:
        raise UsageError("give exactly one of --out FILE, --check FILE and --port-dir DIR")
    with _embedder(args) as emb:
        if args.port_dir:
            paths = write_port_goldens(emb, args.port_dir)
            _print({"written": {k: str(v) for k, v in paths.items()}, "model_version": emb.model_version})
            return 0
        if args.out:
            write_golden(emb, args.out)
            _print({"written": args.out, "model_version": emb.model_version, "cases": len(sample_records())})
            return 0
        res = compare_golden(emb, _read_json(args.check), atol=args.atol)
        _print({"checked": args.check, "cases": res.cases, "max_abs_diff": res.max_abs_diff, "ok": res.ok,
                "mismatches": res.mismatches})
        return 0 if res.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Human-readable tour: embed EN/KO samples, compare them, recommend from the demo catalog."""
    samples = dict(sample_records())
    cat = Catalog.default() if args.catalog is None else Catalog.load(args.catalog)  # a bad file stops the tour first
    with _embedder(args) as emb:
        print(f"model {emb.model_version}  ({emb.bundle.manifest['quantization']['variant']}, "
              f"{emb.bundle.manifest['files']['model.tflite']['size'] / 1024:.0f} KB)  runtime {emb.runtime} ({emb.delegate})")
        emb.embed(samples["empty_record"])  # first call pays one-off allocation; not a user-visible cost
        print("\nembed (one call each; ms = preprocessing + inference + total)")
        res = {}
        for name in ("en_washed_ethiopia", "ko_washed_ethiopia", "mixed_natural", "en_dark_roast_espresso",
                     "ko_dark_roast", "negation_en", "negation_ko", "metrics_only"):
            r = emb.embed(samples[name])
            res[name] = r
            notes = samples[name].get("notes", "")
            print(f"  {name:<24} bucket {r.bucket:>2}  {r.timing.preprocess_ms:6.3f} + {r.timing.inference_ms:6.3f} "
                  f"= {r.timing.total_ms:6.3f} ms  {notes[:48]!r}")
        print("\ncosine similarity")
        for a, b in (("en_washed_ethiopia", "ko_washed_ethiopia"), ("en_dark_roast_espresso", "ko_dark_roast"),
                     ("negation_en", "negation_ko"), ("en_washed_ethiopia", "en_dark_roast_espresso"),
                     ("ko_washed_ethiopia", "ko_dark_roast")):
            print(f"  {a:<24} ~ {b:<24} {Embedder.cosine_similarity(res[a], res[b]):+.3f}")
        profile = TasteProfile(model_version=emb.model_version)
        liked = res["en_washed_ethiopia"]
        profile.like(liked, attributes=liked.attributes)
        profile.dislike(res["en_dark_roast_espresso"], attributes=res["en_dark_roast_espresso"].attributes)
        import time

        t0 = time.perf_counter()
        try:
            picks = recommend(profile, cat, k=3, diversity=0.3)
        except CatalogError as e:  # a retrained bundle: the demo catalog holds another model's vectors
            print(f"\nrecommend: {e} (--catalog FILE: a catalog embedded with this model, e.g. taste2vec-convert "
                  "catalog; your coffees: Catalog.from_records(embedder, [(item, record), ...]))")
            return 0
        ms = (time.perf_counter() - t0) * 1e3
        print(f"\nrecommend (liked the washed Ethiopia, disliked the dark roast; {len(cat)} catalog coffees, "
              f"{ms:.2f} ms)")
        for p in picks:
            print(f"  {p.score:+.3f}  {p.item.name} ({p.item.roaster}, {p.item.roast})\n          {p.explanation}")
    return 0


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="taste2vec", description="Taste2Vec Edge SDK: tasting record -> 128-d taste vector, similarity, "
               "recommendations. Output is JSON.", epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--version", action="version", version=f"taste2vec {__import__('taste2vec').__version__}")
    verbose = Parser(add_help=False)
    verbose.add_argument("--verbose", "-v", action="store_true",
                         help="also show the LiteRT runtime's own log lines (e.g. 'Created TensorFlow Lite XNNPACK "
                              "delegate'), hidden otherwise")
    common = Parser(add_help=False, parents=[verbose])
    common.add_argument("--model", help="bundle folder or .zip (default: the bundled model)")
    common.add_argument("--threads", type=int, default=1, help="LiteRT interpreter threads")
    add_trust_arguments(common)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_embedding_commands(sub, common, verbose)
    _add_search_commands(sub, common, verbose)
    _add_bundle_commands(sub, common)
    return p


def _add_embedding_commands(sub: Any, common: Parser, verbose: Parser) -> None:
    """embed, diff."""
    e = sub.add_parser("embed", parents=[common], help="embed a record (JSON file or flags)",
                       description="Embed one record (or a JSON list of records) and print the vector as JSON.")
    e.add_argument("--record", help="record JSON file ('-' = stdin); an object or a list of objects")
    e.add_argument("--notes", help="tasting notes (Korean, English or both)")
    e.add_argument("--metric", action="append", metavar="NAME=VALUE", help="a metric, repeatable (acidity=7.5)")
    e.add_argument("--context", help="context snapshot(s): inline JSON or a JSON file")
    e.add_argument("--quantize", action="store_true", help="also output the int8 vector")
    e.add_argument("--jsonl", metavar="FILE",
                   help="a JSON-lines file of records ('-' = stdin): one compact JSON result per line, an error "
                        "object for a bad line (the format make kotlin-embed prints; see taste2vec.lines)")
    e.set_defaults(func=cmd_embed)

    df = sub.add_parser("diff", parents=[verbose], help="compare two JSON-lines result files (embed --jsonl, "
                        "make kotlin-embed)", description="Compare two result files line by line: vectors by cosine, "
                        "bucket and model version, errors by type and field. Exit 1 when a line differs.")
    df.add_argument("expected", help="the reference results (e.g. taste2vec embed --jsonl)")
    df.add_argument("got", help="the results to check (e.g. make kotlin-embed)")
    df.add_argument("--min-cosine", type=float, default=0.9999, help="lowest cosine a vector may have to its twin")
    df.add_argument("--show", type=int, default=20, help="differing lines to print")
    df.set_defaults(func=cmd_diff)


def _add_search_commands(sub: Any, common: Parser, verbose: Parser) -> None:
    """similar, recommend."""
    s = sub.add_parser("similar", parents=[common], help="cosine of two records, or nearest catalog coffees",
                       description="Cosine similarity of records A and B, or the coffees of a catalog nearest to A.")
    s.add_argument("a", help="record JSON file ('-' = stdin)")
    s.add_argument("b", nargs="?", help="second record JSON file")
    s.add_argument("--catalog", nargs="?", const="default",
                   help="instead of B, search a catalog JSON (bare --catalog: the demo catalog)")
    s.add_argument("-k", "--k", type=int, default=5, help="how many coffees")
    s.set_defaults(func=cmd_similar)

    r = sub.add_parser("recommend", parents=[verbose], help="recommend catalog coffees from feedback or a saved profile",
                       description="Recommend coffees from a catalog for a taste profile built from --liked / "
                                   "--disliked / --rate feedback on catalog items and/or loaded with --profile.")
    r.add_argument("--catalog", help="catalog JSON (default: the demo catalog)")
    r.add_argument("--profile", help="taste profile JSON to start from")
    r.add_argument("--liked", action="append", metavar="ITEM_ID",
                   help="a catalog item the user liked (e.g. cr-0017e22d08); repeatable")
    r.add_argument("--disliked", action="append", metavar="ITEM_ID",
                   help="a catalog item the user disliked; repeatable")
    r.add_argument("--rate", action="append", metavar="ITEM_ID=STARS", help="a 1..5 rating, repeatable")
    r.add_argument("--exclude", action="append", metavar="ITEM_ID",
                   help="never recommend this item; repeatable (items with feedback are left out anyway)")
    r.add_argument("-k", "--k", type=int, default=5, help="how many coffees")
    r.add_argument("--diversity", type=float, default=0.0,
                   help="MMR trade-off in [0, 1]: 0 = most similar first, higher = more varied picks")
    r.add_argument("--save-profile", help="write the updated profile here")
    r.set_defaults(func=cmd_recommend)


def _add_bundle_commands(sub: Any, common: Parser) -> None:
    """info, golden, demo."""
    i = sub.add_parser("info", parents=[common], help="the bundle's manifest",
                       description="Verify the bundle and print its manifest summary.")
    i.add_argument("--full", action="store_true", help="the whole manifest")
    i.add_argument("--path", action="store_true",
                   help="only the bundle's path (e.g. cp -r \"$(taste2vec info --path)\" my-bundle)")
    i.set_defaults(func=cmd_info)

    g = sub.add_parser("golden", parents=[common], help="write or check golden vectors",
                       description="Write the sample records' tensors and embeddings (--out), or re-run a golden "
                                   "file and compare (--check; exit 1 on a mismatch).")
    g.add_argument("--out", help="write the sample records' golden file")
    g.add_argument("--check", help="re-run a golden file and compare")
    g.add_argument("--port-dir", help="write records.json, texts.json, profile.json, rollout.json and the "
                                      "end-to-end record lines (e2e_records.jsonl, e2e_expected.jsonl) for a "
                                      "language port (the Kotlin library's tests read them)")
    g.add_argument("--atol", type=float, default=1e-5, help="largest absolute difference --check accepts")
    g.set_defaults(func=cmd_golden)

    d = sub.add_parser("demo", parents=[common], help="a short tour with the bundled model",
                       description="Embed EN/KO sample records, print similarities, a recommendation and latency.")
    d.add_argument("--catalog", help="catalog JSON embedded with the same model, for the recommendation (default: the "
                                     "demo catalog, embedded with the bundled model)")
    d.set_defaults(func=cmd_demo)


SERVE_MOVED = ("taste2vec serve: the HTTP server is its own command, taste2vec-serve (the SDK runs no server); "
               "install it with: pip install . './backend[serve]'")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        print(SERVE_MOVED, file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    set_verbose(getattr(args, "verbose", False))
    try:
        return args.func(args)
    except RecordValidationError as e:
        print(f"taste2vec: invalid record: {e}", file=sys.stderr)
    except (Taste2VecError, ValueError, KeyError) as e:
        print(f"taste2vec: error: {e}", file=sys.stderr)
    except BrokenPipeError:  # `taste2vec info | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
