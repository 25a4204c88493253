"""Model bundles: the self-describing file set apps ship, and the loader that refuses bad ones.

A bundle is a folder ``<name>-<version>/``::

    manifest.json          format, name, semantic version, files with sha256 + size, signatures,
                           record-spec / tokenizer / lexicon versions, quantization, parity and quality
                           metrics, source checkpoint hash, creation time
    model.tflite           the on-device model (one signature per token-length bucket)
    model.onnx             optional: the same student for cloud inference
    tokenizer.json         the WordPiece vocabulary and rules (taste2vec/tokenizer.py)
    sensory_lexicon.json   the lexicon the model's ``lexicon`` input was computed with
    record_spec.json       the record spec the model's inputs follow

``ModelBundle.load(path)`` checks, before anything is used: the manifest parses and has this format; every
listed file exists with the listed size and sha256; no unlisted model file lies beside them; the record spec,
tokenizer and lexicon versions in the manifest match the files; the record spec's major version is one
this SDK reads. Any failure raises ``BundleError`` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Taste2VecError
from .lexicon import SensoryLexicon
from .spec import RecordSpec, default_spec, load_spec
from .tokenizer import TokenizerError, WordPieceTokenizer

MANIFEST_FORMAT = "taste2vec.bundle/1"
MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.tflite", "tokenizer.json", "sensory_lexicon.json", "record_spec.json")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class BundleError(Taste2VecError):
    """A model bundle is missing, corrupt, tampered with, or does not fit this SDK."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_path(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bundle_dirname(name: str, version: str) -> str:
    return f"{name}-{version}"


def validate_name_version(name: str, version: str) -> None:
    if not _NAME.match(name or ""):
        raise BundleError(f"bundle name {name!r} must be lower-case letters, digits, '.', '_' or '-'")
    if not _SEMVER.match(version or ""):
        raise BundleError(f"bundle version {version!r} is not a semantic version (MAJOR.MINOR.PATCH)")


@dataclass(frozen=True)
class ModelBundle:
    """A verified bundle: its folder, manifest and the parsed preprocessing files."""

    path: Path
    manifest: dict[str, Any]
    spec: RecordSpec
    tokenizer: WordPieceTokenizer
    lexicon: SensoryLexicon

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def model_path(self) -> Path:
        return self.path / "model.tflite"

    def model_bytes(self) -> bytes:
        """The verified flatbuffer (re-checked against the manifest hash on every read)."""
        data = self.model_path.read_bytes()
        if sha256_bytes(data) != self.manifest["files"]["model.tflite"]["sha256"]:
            raise BundleError(f"{self.model_path}: changed on disk after the bundle was loaded")
        return data

    @classmethod
    def load(cls, path: str | Path) -> "ModelBundle":
        """Verify and load a bundle folder; raise ``BundleError`` on any mismatch (see module docs)."""
        path = Path(path)
        mpath = path / MANIFEST
        if not path.is_dir():
            raise BundleError(f"{path}: not a bundle folder")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BundleError(f"{path}: no {MANIFEST}") from None
        except (OSError, ValueError) as e:
            raise BundleError(f"{mpath}: unreadable manifest ({e})") from e
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise BundleError(f"{mpath}: format {manifest.get('format') if isinstance(manifest, dict) else None!r}, "
                              f"this SDK reads {MANIFEST_FORMAT}")
        validate_name_version(manifest.get("name", ""), manifest.get("version", ""))
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise BundleError(f"{mpath}: no 'files' table")
        for req in REQUIRED_FILES:
            if req not in files:
                raise BundleError(f"{mpath}: required file {req} is not listed")
        for fname, info in files.items():
            fp = path / fname
            if "/" in fname or fname.startswith("."):
                raise BundleError(f"{mpath}: file name {fname!r} is not a plain name")
            if not fp.is_file():
                raise BundleError(f"{fp}: listed in the manifest but missing")
            if fp.stat().st_size != info.get("size"):
                raise BundleError(f"{fp}: size {fp.stat().st_size} bytes, manifest says {info.get('size')}")
            if sha256_path(fp) != info.get("sha256"):
                raise BundleError(f"{fp}: sha256 does not match the manifest (corrupt or tampered file)")
        for extra in path.iterdir():
            if extra.name != MANIFEST and extra.name not in files and extra.suffix in (".tflite", ".onnx", ".json"):
                raise BundleError(f"{extra}: not listed in the manifest (a bundle holds only what it lists)")
        spec = _load(lambda: load_spec(path / "record_spec.json"), "record_spec.json", path)
        expected = manifest.get("record_spec", {}).get("version")
        if spec.version != expected:
            raise BundleError(f"{path / 'record_spec.json'}: version {spec.version}, manifest says {expected}")
        sdk_major = default_spec().version.split(".")[0]
        if spec.version.split(".")[0] != sdk_major:
            raise BundleError(f"{path}: record spec {spec.version} is not readable by this SDK (reads {sdk_major}.x)")
        tok = _load(lambda: WordPieceTokenizer.load(path / "tokenizer.json"), "tokenizer.json", path)
        if tok.version != manifest.get("tokenizer", {}).get("version"):
            raise BundleError(f"{path / 'tokenizer.json'}: version {tok.version}, manifest says "
                              f"{manifest.get('tokenizer', {}).get('version')}")
        lex = _load(lambda: SensoryLexicon.load(path / "sensory_lexicon.json"), "sensory_lexicon.json", path)
        want = manifest.get("lexicon", {})
        if lex.version != want.get("version") or lex.dim != want.get("dim"):
            raise BundleError(f"{path / 'sensory_lexicon.json'}: version {lex.version} dim {lex.dim}, manifest says "
                              f"{want.get('version')} dim {want.get('dim')}")
        inputs = {i["name"]: i for i in manifest.get("signatures", [{}])[0].get("inputs", [])}
        if inputs.get("lexicon", {}).get("shape", [None, None])[-1] != lex.dim:
            raise BundleError(f"{mpath}: model's lexicon input does not have the lexicon's {lex.dim} entries")
        if inputs.get("metrics", {}).get("shape", [None, None])[-1] != spec.num_metrics:
            raise BundleError(f"{mpath}: model's metrics input does not match the record spec's {spec.num_metrics}")
        return cls(path, manifest, spec, tok, lex)


def _load(fn, fname: str, path: Path):
    try:
        return fn()
    except (Taste2VecError, TokenizerError, OSError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{path / fname}: unreadable ({e})") from e


def default_bundle_path() -> Path:
    """The bundle shipped inside the SDK package (``taste2vec/models/<name>-<version>``)."""
    root = Path(__file__).parent / "models"
    index = root / "DEFAULT"
    if not index.exists():
        raise BundleError(f"no default bundle shipped in {root}")
    return root / index.read_text().strip()
