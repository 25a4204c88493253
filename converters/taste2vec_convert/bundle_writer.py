"""Write a model bundle (see ``taste2vec.bundle`` for the layout and the loader that verifies it).

The folder is assembled under a temporary name next to the destination, verified with the SDK's own loader,
and renamed into place, so a reader never sees half a bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from taste2vec.bundle import MANIFEST, MANIFEST_FORMAT, ModelBundle, bundle_dirname, sha256_path, \
    validate_name_version
from taste2vec.lexicon import SensoryLexicon
from taste2vec.signing import SIGNATURE_FILE
from taste2vec.spec import spec_path
from taste2vec.tokenizer import WordPieceTokenizer

from .signing import load_private_key, public_pem, signature_document


def write_bundle(out_root: str | Path, name: str, version: str, model: bytes, tokenizer: WordPieceTokenizer,
                 lexicon_path: str | Path, metadata: dict[str, Any], onnx_path: str | Path | None = None,
                 created: str | None = None, extra_files: dict[str, bytes] | None = None,
                 signing_key: str | Path | None = None) -> ModelBundle:
    """Write ``out_root/<name>-<version>/`` and return it loaded (verified). Replaces an existing folder.

    ``metadata`` goes into the manifest as is (signatures, quantization, parity, quality, source, ...);
    ``created`` is an ISO time (pass a fixed one for byte-identical rebuilds); ``extra_files`` (plain name ->
    bytes, e.g. ``golden_outputs.json``) are written and listed like the others. ``signing_key`` (an Ed25519
    private key PEM) signs the manifest (``manifest.sig``); without it the bundle is unsigned.
    """
    validate_name_version(name, version)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / bundle_dirname(name, version)
    tmp = out_root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        (tmp / "model.tflite").write_bytes(model)
        tokenizer.save(tmp / "tokenizer.json")
        shutil.copyfile(lexicon_path, tmp / "sensory_lexicon.json")
        shutil.copyfile(spec_path(), tmp / "record_spec.json")
        if onnx_path is not None:
            shutil.copyfile(onnx_path, tmp / "model.onnx")
        for fname, data in (extra_files or {}).items():
            if "/" in fname or fname.startswith(".") or (tmp / fname).exists():
                raise ValueError(f"extra bundle file name {fname!r} is not a new plain name")
            (tmp / fname).write_bytes(data)
        lex = SensoryLexicon.load(tmp / "sensory_lexicon.json")
        spec = json.loads((tmp / "record_spec.json").read_text(encoding="utf-8"))
        files = {p.name: {"sha256": sha256_path(p), "size": p.stat().st_size} for p in sorted(tmp.iterdir())}
        manifest = {"format": MANIFEST_FORMAT, "name": name, "version": version, "created": created,
                    "files": files,
                    "record_spec": {"version": spec["version"]},
                    "tokenizer": {"file": "tokenizer.json", "version": tokenizer.version, "type": "wordpiece",
                                  "vocab_size": tokenizer.vocab_size, "buckets": list(tokenizer.buckets)},
                    "lexicon": {"file": "sensory_lexicon.json", "version": lex.version, "dim": lex.dim},
                    **metadata}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        trust: dict[str, Any] = {"allow_unsigned": True}
        if signing_key is not None:
            key = load_private_key(signing_key)
            (tmp / SIGNATURE_FILE).write_text(signature_document((tmp / MANIFEST).read_bytes(), key))
            trust = {"trusted_keys": [public_pem(key)]}
        ModelBundle.load(tmp, **trust)
        if final.exists():
            old = out_root / f".old-{uuid.uuid4().hex}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ModelBundle.load(final, **trust)
