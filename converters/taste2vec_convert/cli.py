"""``taste2vec-convert``: export a mobile bundle from a reference checkpoint, sign, verify, compare and install
bundles. Every command prints JSON. The registry (list, show, stages, rollouts) is ``taste2vec-lifecycle``'s.

    taste2vec-convert keygen --out runs/keys --name dev  # Ed25519 pair; export --signing-key signs bundles
    taste2vec-convert export --signing-key runs/keys/dev.pem   # runs/reference/checkpoint -> runs/export
    taste2vec-convert verify sdk/taste2vec/models/taste2vec-edge-1.8.0
    taste2vec-convert sign BUNDLE --key KEY.pem         # (re)sign a bundle folder
    taste2vec-convert install runs/export/bundles/taste2vec-edge-1.8.0   # -> sdk/taste2vec/models (default)
    taste2vec-convert compare BUNDLE_A BUNDLE_B        # same files? if not, how close are the vectors
    taste2vec-convert onnx-tf-check                     # shows why the onnx-tf route is unusable here
    taste2vec-convert catalog --bundle BUNDLE --out sdk/taste2vec/assets/demo_catalog.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

from taste2vec_reference.determinism import pin_environment, pin_torch
from taste2vec_reference.noise import quiet_third_party


# taste2vec (numpy) is imported inside the functions: main() pins the math libraries before anything loads them


def trust_from_args(args) -> dict:
    from taste2vec.signing import trust_from_args as from_args

    return from_args(args)


def cmd_export(args) -> int:
    from .distill import DistillConfig
    from .export import ExportConfig, ExportError, export
    from .parity import Thresholds

    pin_torch(args.threads)
    # --no-real: no real review text anywhere, the distillation's transfer set included
    distill_cfg = DistillConfig(seed=args.seed, use_real_reviews=not args.no_real,
                                **({"steps": args.steps} if args.steps else {}))
    thresholds = Thresholds(**({"recall_retained": args.min_retention} if args.min_retention else {}))
    cfg = ExportConfig(name=args.name, version=args.version or ExportConfig.version, include_onnx=args.include_onnx,
                       variants=tuple(args.variants), thresholds=thresholds,
                       distill=distill_cfg, created=args.created, real_data=not args.no_real,
                       signing_key=args.signing_key)
    try:  # stdout is this command's JSON: the converters' own progress lines go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            res = export(cfg, args.checkpoint, args.out, progress=not args.quiet, resume=not args.no_resume)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    out = {"bundle": str(res.bundle.path), "model_id": res.bundle.model_id, "variant": res.report["picked"],
           "model_bytes": res.bundle.manifest["files"]["model.tflite"]["size"],
           "signed": bool(args.signing_key), "report": str(res.report_paths["md"]),
           "installed": None, "gate": res.report["thresholds"]}
    if args.install:
        out["installed"] = str(install(res.bundle.path, Path(args.install), allow_unsigned=True))  # just built
    _print(out)
    return 0


def _print(obj) -> None:
    print(json.dumps(obj, indent=1, ensure_ascii=False))


def cmd_catalog(args) -> int:
    from .catalog import build_catalog

    cat = build_catalog(args.bundle, size=args.size, **trust_from_args(args))
    cat.save(args.out)
    _print({"catalog": args.out, "coffees": len(cat), "model_version": cat.model_version})
    return 0


def install(bundle_dir: Path, models_dir: Path, **trust) -> Path:
    """Copy a verified bundle into an SDK models folder and make it the default (atomic rename).

    The signature file stays behind: inside the package the bundle is trusted as part of the package (and a
    rebuild signed with another machine's key installs the same bytes)."""
    from taste2vec.bundle import ModelBundle
    from taste2vec.signing import SIGNATURE_FILE

    ModelBundle.load(bundle_dir, **trust)
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = models_dir / bundle_dir.name
    tmp = models_dir / f".tmp-{bundle_dir.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(bundle_dir, tmp, ignore=shutil.ignore_patterns(SIGNATURE_FILE))
    ModelBundle.load(tmp, allow_unsigned=True)  # the copy is intact (its origin was checked above)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    (models_dir / "DEFAULT.tmp").write_text(bundle_dir.name + "\n")
    os.replace(models_dir / "DEFAULT.tmp", models_dir / "DEFAULT")
    return dest


def cmd_install(args) -> int:
    _print({"installed": str(install(Path(args.bundle), Path(args.models_dir), **trust_from_args(args)))})
    return 0


def cmd_verify(args) -> int:
    from taste2vec.bundle import BundleError, ModelBundle

    from taste2vec.probe import probe_model
    from taste2vec.runtime import ModelRuntimeError

    try:
        b = ModelBundle.load(args.bundle, **trust_from_args(args))
        probe = probe_model(b.model_bytes())  # every signature, in a child process
    except (BundleError, ModelRuntimeError) as e:
        _print({"ok": False, "bundle": args.bundle, "refused": str(e)})
        print(f"REFUSED: {e}", file=sys.stderr)
        return 1
    m = b.manifest
    _print({"ok": True, "bundle": args.bundle, "model_id": b.model_id, "files_verified": len(m["files"]),
            "trusted_as": b.trusted_as, "buckets_run": probe["buckets"],
            "quantization": m["quantization"]["variant"], "signatures": [s["name"] for s in m["signatures"]],
            "record_spec": m["record_spec"]["version"], "latency_budget": b.latency_budget})
    return 0


def cmd_keygen(args) -> int:
    from .signing import generate_keypair

    priv, pub = generate_keypair(args.out, args.name)
    _print({"private_key": str(priv), "public_key": str(pub),
            "note": "private key mode 0600: keep it secret, out of the repository; give the public key to apps "
                    "(BaseOptions(trusted_keys=...), Kotlin BundleTrust, --trusted-key)"})
    return 0


def cmd_sign(args) -> int:
    from .signing import sign_bundle

    _print({"signed": str(sign_bundle(args.bundle, args.key))})
    return 0


def cmd_compare(args) -> int:
    from .compare import compare_bundles

    res = compare_bundles(Path(args.a), Path(args.b), **trust_from_args(args))
    print(json.dumps(res, indent=2))
    return 0 if res["equivalent"] else 1


def cmd_onnx_tf(args) -> int:
    from .onnx_export import check_onnx_tf

    _print({"onnx_tf": check_onnx_tf()})
    return 0


def _retention(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.5 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g}: allowed 0.5 to 1.0 (a share of the teacher's recall@10)")
    return value


def build_parser() -> argparse.ArgumentParser:
    from taste2vec.helpformat import Parser, int_at_least

    from .variants import VARIANTS
    from taste2vec.signing import add_trust_arguments

    ap = Parser(prog="taste2vec-convert", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("export", help="distill -> convert -> quantize -> validate -> bundle",
                       description="Distill a student from a reference checkpoint, convert it to TFLite, quantize, "
                                   "gate on parity and write a verified bundle. Prints JSON saying where the bundle "
                                   "is. Registering it is the lifecycle's: taste2vec-lifecycle register BUNDLE.")
    p.add_argument("--checkpoint", default="runs/reference/checkpoint",
                   help="reference (teacher) checkpoint folder (taste2vec-reference train writes OUT/checkpoint)")
    p.add_argument("--out", default="runs/export", help="export folder: bundles/, report, intermediate models")
    p.add_argument("--install", help="also copy the bundle into this SDK models folder as the default")
    p.add_argument("--name", default="taste2vec-edge", help="bundle name")
    p.add_argument("--version", help="bundle version (default: the toolkit's current release)")
    p.add_argument("--seed", type=int, default=0, help="distillation seed")
    p.add_argument("--steps", type=int_at_least(1), help="distillation steps (default: DistillConfig.steps)")
    p.add_argument("--threads", type=int_at_least(1), default=2, help="torch threads (fixed for reproducibility)")
    p.add_argument("--created", help="creation time written to the manifest (default: now)")
    p.add_argument("--include-onnx", action="store_true", help="put model.onnx into the bundle too")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS), metavar="VARIANT",
                   help=f"quantization variants to build and gate ({', '.join(VARIANTS)}); the smallest that passes "
                        "the parity gate is bundled")
    p.add_argument("--no-real", action="store_true", help="skip the real review / CQI data")
    p.add_argument("--min-retention", type=_retention, metavar="R",
                   help="parity gate: the share of the teacher's synthetic recall@10 a variant must keep (default "
                        "0.97); lower it on purpose for a small private data set; recorded in the export report")
    p.add_argument("--no-resume", action="store_true", help="distill from scratch even if a checkpoint exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--signing-key", help="Ed25519 private key (PEM) that signs the bundle's manifest "
                   "(taste2vec-convert keygen); registries take signed bundles only")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("verify", help="verify a bundle (signature, hashes, versions, files)")
    p.add_argument("bundle", help="bundle folder or .zip")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("keygen", help="a new Ed25519 signing key pair (<name>.pem, <name>.pub.pem)")
    p.add_argument("--out", required=True, help="folder for the key files (kept out of the repository)")
    p.add_argument("--name", default="release", help="file name stem")
    p.set_defaults(func=cmd_keygen)
    p = sub.add_parser("sign", help="sign a bundle folder's manifest (writes manifest.sig)")
    p.add_argument("bundle", help="bundle folder")
    p.add_argument("--key", required=True, help="Ed25519 private key (PEM)")
    p.set_defaults(func=cmd_sign)
    p = sub.add_parser("install", help="copy a verified bundle into an SDK models folder as the default")
    p.add_argument("bundle", help="bundle folder")
    p.add_argument("--models-dir", default="sdk/taste2vec/models", help="the SDK's models folder")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("compare", help="compare two bundles (files, then embeddings)")
    p.add_argument("a", help="first bundle folder")
    p.add_argument("b", help="second bundle folder")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("catalog", help="build the demo curation catalog from the Coffee Review rows")
    p.add_argument("--bundle", required=True, help="bundle whose model embeds the catalog")
    p.add_argument("--out", required=True, help="catalog JSON to write")
    p.add_argument("--size", type=int, default=150, help="number of coffees")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_catalog)
    p = sub.add_parser("onnx-tf-check", help="show the onnx-tf import failure with today's onnx")
    p.set_defaults(func=cmd_onnx_tf)
    return ap


def main(argv: list[str] | None = None) -> int:
    """The command line; run as a program (``argv`` None) it first pins the floating-point paths
    (:mod:`taste2vec_reference.determinism`)."""
    if argv is None:
        pin_environment()
    quiet_third_party()
    args = build_parser().parse_args(argv)
    from taste2vec.errors import Taste2VecError

    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, Taste2VecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
