"""``taste2vec-convert``: export a mobile bundle from a reference checkpoint, verify bundles, use the registry.

    taste2vec-convert export --checkpoint runs/model/teacher/checkpoint --out runs/model/export \\
        --registry runs/registry [--install sdk/taste2vec/models]
    taste2vec-convert verify sdk/taste2vec/models/taste2vec-edge-1.4.2
    taste2vec-convert keygen --out ~/.taste2vec/keys    # Ed25519 pair; export --signing-key signs bundles
    taste2vec-convert sign BUNDLE --key KEY.pem         # (re)sign a bundle folder
    taste2vec-convert install runs/model/export/bundles/taste2vec-edge-1.4.2   # -> sdk/taste2vec/models (default)
    taste2vec-convert compare BUNDLE_A BUNDLE_B        # same files? if not, how close are the vectors
    taste2vec-convert registry list|show|register --root runs/registry ...
    taste2vec-convert onnx-tf-check                     # shows why the onnx-tf route is unusable here
    taste2vec-convert catalog --bundle BUNDLE --out sdk/taste2vec/assets/demo_catalog.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from taste2vec_reference.determinism import pin_environment, pin_torch


# taste2vec (numpy) is imported inside the functions: main() pins the math libraries before anything loads them


def trust_from_args(args) -> dict:
    from taste2vec.signing import trust_from_args as from_args

    return from_args(args)


def cmd_export(args) -> int:
    from .distill import DistillConfig
    from .export import ExportConfig, ExportError, export

    pin_torch(args.threads)
    distill_cfg = DistillConfig(seed=args.seed, **({"steps": args.steps} if args.steps else {}))
    cfg = ExportConfig(name=args.name, version=args.version or ExportConfig.version, include_onnx=args.include_onnx,
                       distill=distill_cfg, created=args.created, real_data=not args.no_real,
                       signing_key=args.signing_key)
    try:
        res = export(cfg, args.checkpoint, args.out, registry=args.registry, progress=not args.quiet,
                     resume=not args.no_resume)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    print(f"bundle: {res.bundle.path} ({res.report['picked']}, "
          f"{res.bundle.manifest['files']['model.tflite']['size'] / 1024:.0f} KB model)")
    print(f"report: {res.report_paths['md']} / .json / .png")
    if args.install:
        dest = install(res.bundle.path, Path(args.install), allow_unsigned=True)  # this run just built it
        print(f"installed: {dest}")
    return 0


def cmd_catalog(args) -> int:
    from .catalog import build_catalog

    cat = build_catalog(args.bundle, size=args.size)
    cat.save(args.out)
    print(f"catalog: {args.out} ({len(cat)} coffees, {cat.model_version})")
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
    print(f"installed: {install(Path(args.bundle), Path(args.models_dir), **trust_from_args(args))}")
    return 0


def cmd_verify(args) -> int:
    from taste2vec.bundle import BundleError, ModelBundle

    from taste2vec.probe import probe_model
    from taste2vec.runtime import ModelRuntimeError

    try:
        b = ModelBundle.load(args.bundle, **trust_from_args(args))
        probe = probe_model(b.model_bytes())  # every signature, in a child process
    except (BundleError, ModelRuntimeError) as e:
        print(f"REFUSED: {e}", file=sys.stderr)
        return 1
    m = b.manifest
    print(f"OK {b.name} {b.version}: {len(m['files'])} files verified, {b.trusted_as}, buckets {probe['buckets']} "
          f"run in a child process, quantization "
          f"{m['quantization']['variant']}, signatures {[s['name'] for s in m['signatures']]}, record spec "
          f"{m['record_spec']['version']}")
    return 0


def cmd_keygen(args) -> int:
    from .signing import generate_keypair

    priv, pub = generate_keypair(args.out, args.name)
    print(f"private key: {priv} (mode 0600; keep it secret, out of the repository)\npublic key:  {pub} (give it to "
          "apps: BaseOptions(trusted_keys=...), the Kotlin ModelBundle, --trusted-key)")
    return 0


def cmd_sign(args) -> int:
    from .signing import sign_bundle

    print(f"signed: {sign_bundle(args.bundle, args.key)}")
    return 0


def cmd_compare(args) -> int:
    from .compare import compare_bundles

    res = compare_bundles(Path(args.a), Path(args.b), **trust_from_args(args))
    print(json.dumps(res, indent=2))
    return 0 if res["equivalent"] else 1


def cmd_registry(args) -> int:
    from taste2vec.bundle import BundleError
    from taste2vec.registry import ModelRegistry

    reg = ModelRegistry(args.root, **trust_from_args(args))
    try:
        if args.action == "list":
            for m in reg.list():
                print(f"{m['name']:<20} {m['version']:<10} {m['model_bytes'] / 1024:7.0f} KB  "
                      f"{(m.get('quantization') or {}).get('variant', '?'):<13} {m['registered']}")
        elif args.action == "show":
            print(json.dumps(reg.show(args.name, args.version), indent=2, ensure_ascii=False))
        else:
            print(json.dumps(reg.register(args.bundle), indent=2))
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_onnx_tf(args) -> int:
    from .onnx_export import check_onnx_tf

    print(check_onnx_tf())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from taste2vec.signing import add_trust_arguments

    ap = argparse.ArgumentParser(prog="taste2vec-convert", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="distill -> convert -> quantize -> validate -> bundle -> register")
    p.add_argument("--checkpoint", required=True, help="reference (teacher) checkpoint folder")
    p.add_argument("--out", default="runs/export")
    p.add_argument("--registry", help="registry folder to register the bundle in")
    p.add_argument("--install", help="also copy the bundle into this SDK models folder as the default")
    p.add_argument("--name", default="taste2vec-edge")
    p.add_argument("--version", help="bundle version (default: the toolkit's current release)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="distillation steps (default: DistillConfig's, 3000)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (fixed for reproducibility; default 2)")
    p.add_argument("--created", help="creation time written to the manifest (default: now)")
    p.add_argument("--include-onnx", action="store_true", help="put model.onnx into the bundle too")
    p.add_argument("--no-real", action="store_true", help="skip the real review / CQI data")
    p.add_argument("--no-resume", action="store_true", help="distill from scratch even if a checkpoint exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--signing-key", help="Ed25519 private key (PEM) that signs the bundle's manifest "
                   "(taste2vec-convert keygen); needed with --registry, which refuses unsigned candidates")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("verify", help="verify a bundle (signature, hashes, versions, files)")
    p.add_argument("bundle")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("keygen", help="a new Ed25519 signing key pair (<name>.pem, <name>.pub.pem)")
    p.add_argument("--out", required=True, help="folder for the key files (kept out of the repository)")
    p.add_argument("--name", default="release", help="file name stem (default release)")
    p.set_defaults(func=cmd_keygen)
    p = sub.add_parser("sign", help="sign a bundle folder's manifest (writes manifest.sig)")
    p.add_argument("bundle")
    p.add_argument("--key", required=True, help="Ed25519 private key (PEM)")
    p.set_defaults(func=cmd_sign)
    p = sub.add_parser("install", help="copy a verified bundle into an SDK models folder as the default")
    p.add_argument("bundle")
    p.add_argument("--models-dir", default="sdk/taste2vec/models")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("compare", help="compare two bundles (files, then embeddings)")
    p.add_argument("a")
    p.add_argument("b")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("registry", help="list / show / register bundles in a local registry")
    p.add_argument("action", choices=("list", "show", "register"))
    p.add_argument("--root", default="runs/registry")
    p.add_argument("--name", default="taste2vec-edge")
    p.add_argument("--version")
    p.add_argument("--bundle", help="bundle folder (register)")
    add_trust_arguments(p)
    p.set_defaults(func=cmd_registry)
    p = sub.add_parser("catalog", help="build the demo curation catalog from the Coffee Review rows")
    p.add_argument("--bundle", required=True, help="bundle whose model embeds the catalog")
    p.add_argument("--out", required=True, help="catalog JSON to write")
    p.add_argument("--size", type=int, default=150, help="number of coffees (default 150)")
    p.set_defaults(func=cmd_catalog)
    p = sub.add_parser("onnx-tf-check", help="show the onnx-tf import failure with today's onnx")
    p.set_defaults(func=cmd_onnx_tf)
    return ap


def main(argv: list[str] | None = None) -> int:
    """The command line; run as a program (``argv`` None) it first pins the floating-point paths
    (:mod:`taste2vec_reference.determinism`)."""
    if argv is None:
        pin_environment()
    args = build_parser().parse_args(argv)
    if args.command == "registry" and args.action == "register" and not args.bundle:
        print("error: registry register needs --bundle", file=sys.stderr)
        return 2
    from taste2vec.errors import Taste2VecError

    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, Taste2VecError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
