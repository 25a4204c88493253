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
    golden_outputs.json    optional: sample records with the tensors and embedding the toolkit validated

The same files zipped (``pack_bundle``; flat or under one ``<name>-<version>/`` folder) are a bundle too:
``ModelBundle.load("x.zip")`` or ``ModelBundle.from_buffer(zip_bytes)``.

``ModelBundle.load(path)`` checks, before anything is used: the manifest parses and has this format; every
listed file exists with the listed size and sha256; no unlisted model file lies beside them; the record spec,
tokenizer and lexicon versions in the manifest match the files; the record spec's major version is one
this SDK reads. Any failure raises ``BundleError`` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Taste2VecError
from .lexicon import SensoryLexicon
from .spec import RecordSpec, default_spec, parse_spec
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
    """A verified bundle: where it came from, its manifest and the parsed preprocessing files.

    Load one with :meth:`load` (a bundle folder or a ``.zip`` of one) or :meth:`from_buffer` (the bytes of such a
    zip, e.g. read from an app's assets).
    """

    path: Path | None
    manifest: dict[str, Any]
    spec: RecordSpec
    tokenizer: WordPieceTokenizer
    lexicon: SensoryLexicon
    _files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def model_id(self) -> str:
        """``<name>-<version>``, the string an embedding carries to say which model made it."""
        return bundle_dirname(self.name, self.version)

    @property
    def model_path(self) -> Path | None:
        return None if self.path is None or not self.path.is_dir() else self.path / "model.tflite"

    def file_bytes(self, name: str) -> bytes:
        """A verified file of the bundle by name (e.g. ``golden_outputs.json``)."""
        if name not in self._files:
            raise BundleError(f"{self.origin}: no file {name!r} in this bundle (has {sorted(self._files)})")
        return self._files[name]

    @property
    def origin(self) -> str:
        return str(self.path) if self.path is not None else "<bundle in memory>"

    def model_bytes(self) -> bytes:
        """The verified flatbuffer. A folder bundle re-reads the file and re-checks its hash on every call."""
        if self.model_path is None:
            return self._files["model.tflite"]
        data = self.model_path.read_bytes()
        if sha256_bytes(data) != self.manifest["files"]["model.tflite"]["sha256"]:
            raise BundleError(f"{self.model_path}: changed on disk after the bundle was loaded")
        return data

    @classmethod
    def load(cls, path: str | Path) -> "ModelBundle":
        """Verify and load a bundle folder or a ``.zip`` of one; raise ``BundleError`` on any mismatch."""
        path = Path(path)
        if path.is_file() and zipfile.is_zipfile(path):
            return cls._verify(_read_zip(path.read_bytes(), str(path)), path)
        if not path.is_dir():
            raise BundleError(f"{path}: not a bundle folder or a bundle .zip")
        return cls._verify(_read_folder(path), path)

    @classmethod
    def from_buffer(cls, data: bytes) -> "ModelBundle":
        """Verify and load a bundle from the bytes of its ``.zip`` (see :func:`pack_bundle`)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BundleError(f"model_asset_buffer must be bytes, got {type(data).__name__}")
        return cls._verify(_read_zip(bytes(data), "<bundle in memory>"), None)

    @classmethod
    def _verify(cls, files: dict[str, bytes], path: Path | None) -> "ModelBundle":
        where = Path(str(path)) if path is not None else Path("<bundle in memory>")
        mpath = where / MANIFEST
        if MANIFEST not in files:
            raise BundleError(f"{where}: no {MANIFEST}")
        try:
            manifest = json.loads(files[MANIFEST].decode("utf-8"))
        except ValueError as e:
            raise BundleError(f"{mpath}: unreadable manifest ({e})") from e
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise BundleError(f"{mpath}: format {manifest.get('format') if isinstance(manifest, dict) else None!r}, "
                              f"this SDK reads {MANIFEST_FORMAT}")
        validate_name_version(manifest.get("name", ""), manifest.get("version", ""))
        listed = manifest.get("files")
        if not isinstance(listed, dict):
            raise BundleError(f"{mpath}: no 'files' table")
        for req in REQUIRED_FILES:
            if req not in listed:
                raise BundleError(f"{mpath}: required file {req} is not listed")
        for fname, info in listed.items():
            fp = where / fname
            if "/" in fname or fname.startswith("."):
                raise BundleError(f"{mpath}: file name {fname!r} is not a plain name")
            if fname not in files:
                raise BundleError(f"{fp}: listed in the manifest but missing")
            data = files[fname]
            if not isinstance(info, dict) or len(data) != info.get("size"):
                raise BundleError(f"{fp}: size {len(data)} bytes, manifest says "
                                  f"{info.get('size') if isinstance(info, dict) else None}")
            if sha256_bytes(data) != info.get("sha256"):
                raise BundleError(f"{fp}: sha256 does not match the manifest (corrupt or tampered file)")
        for extra in files:
            if extra != MANIFEST and extra not in listed and Path(extra).suffix in (".tflite", ".onnx", ".json"):
                raise BundleError(f"{where / extra}: not listed in the manifest (a bundle holds only what it lists)")
        spec = _parse(lambda: parse_spec(_json(files["record_spec.json"])), "record_spec.json", where)
        expected = manifest.get("record_spec", {}).get("version")
        if spec.version != expected:
            raise BundleError(f"{where / 'record_spec.json'}: version {spec.version}, manifest says {expected}")
        sdk_major = default_spec().version.split(".")[0]
        if spec.version.split(".")[0] != sdk_major:
            raise BundleError(f"{where}: record spec {spec.version} is not readable by this SDK (reads {sdk_major}.x)")
        tok = _parse(lambda: WordPieceTokenizer.from_dict(_json(files["tokenizer.json"])), "tokenizer.json", where)
        if tok.version != manifest.get("tokenizer", {}).get("version"):
            raise BundleError(f"{where / 'tokenizer.json'}: version {tok.version}, manifest says "
                              f"{manifest.get('tokenizer', {}).get('version')}")
        lex = _parse(lambda: SensoryLexicon(_json(files["sensory_lexicon.json"])), "sensory_lexicon.json", where)
        want = manifest.get("lexicon", {})
        if lex.version != want.get("version") or lex.dim != want.get("dim"):
            raise BundleError(f"{where / 'sensory_lexicon.json'}: version {lex.version} dim {lex.dim}, manifest says "
                              f"{want.get('version')} dim {want.get('dim')}")
        inputs = {i["name"]: i for i in manifest.get("signatures", [{}])[0].get("inputs", [])}
        if inputs.get("lexicon", {}).get("shape", [None, None])[-1] != lex.dim:
            raise BundleError(f"{mpath}: model's lexicon input does not have the lexicon's {lex.dim} entries")
        if inputs.get("metrics", {}).get("shape", [None, None])[-1] != spec.num_metrics:
            raise BundleError(f"{mpath}: model's metrics input does not match the record spec's {spec.num_metrics}")
        kept = {k: v for k, v in files.items() if k in listed}
        return cls(path, manifest, spec, tok, lex, kept)


def _json(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))


def _parse(fn, fname: str, where: Path):
    try:
        return fn()
    except (Taste2VecError, TokenizerError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{where / fname}: unreadable ({e})") from e


def _read_folder(path: Path) -> dict[str, bytes]:
    try:
        return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    except OSError as e:
        raise BundleError(f"{path}: cannot read the bundle ({e})") from e


_MAX_ZIP_BYTES = 256 << 20


def _read_zip(data: bytes, origin: str) -> dict[str, bytes]:
    """Files of a bundle zip: plain names at the top level or inside one top folder (``<name>-<version>/``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if sum(i.file_size for i in infos) > _MAX_ZIP_BYTES:
                raise BundleError(f"{origin}: bundle archive unpacks to more than {_MAX_ZIP_BYTES >> 20} MB")
            tops = {i.filename.split("/")[0] for i in infos if "/" in i.filename}
            prefix = f"{tops.pop()}/" if len(tops) == 1 and all("/" in i.filename for i in infos) else ""
            out = {}
            for i in infos:
                name = i.filename[len(prefix):]
                if "/" in name or name.startswith(".") or not name:
                    raise BundleError(f"{origin}: archive member {i.filename!r} is not a plain bundle file")
                out[name] = zf.read(i)
            return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
        raise BundleError(f"{origin}: not a readable bundle archive ({e})") from e


def pack_bundle(bundle_dir: str | Path, out: str | Path | None = None) -> bytes:
    """Zip a verified bundle folder (files under ``<name>-<version>/``, fixed timestamps, so packing is
    reproducible); write it to ``out`` when given and return the bytes (what ``model_asset_buffer`` takes)."""
    b = ModelBundle.load(bundle_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in [MANIFEST, *sorted(b.manifest["files"])]:
            info = zipfile.ZipInfo(f"{b.model_id}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (Path(bundle_dir) / name).read_bytes())
    data = buf.getvalue()
    if out is not None:
        Path(out).write_bytes(data)
    return data


def default_bundle_path() -> Path:
    """The bundle shipped inside the SDK package (``taste2vec/models/<name>-<version>``)."""
    root = Path(__file__).parent / "models"
    index = root / "DEFAULT"
    if not index.exists():
        raise BundleError(f"no default bundle shipped in {root}")
    return root / index.read_text().strip()
