"""Model bundles: the self-describing file set apps ship, and the loader that refuses bad ones.

A bundle is a folder ``<name>-<version>/``::

    manifest.json          format, name, semantic version, files with sha256 + size, signatures,
                           record-spec / tokenizer / lexicon versions, quantization, parity and quality
                           metrics, source checkpoint hash, creation time
    model.tflite           the on-device model (one signature per token-length bucket, and one per bucket for
                           records without context)
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
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import Taste2VecError
from .fileio import parse_json, plain_name
from .signing import (MAX_SIGNATURE_BYTES, SIGNATURE_FILE, PublicKeyLike, SignatureError, TrustedKey,
                      load_trusted_keys, verify_manifest)
from .lexicon import SensoryLexicon
from .spec import RecordSpec, default_spec, parse_spec
from .tokenizer import TokenizerError, WordPieceTokenizer

MANIFEST_FORMAT = "taste2vec.bundle/1"
MANIFEST = "manifest.json"
REQUIRED_FILES = ("model.tflite", "tokenizer.json", "sensory_lexicon.json", "record_spec.json")
# The product's on-device latency goal (embed stage, one thread): what `taste2vec-bench` checks by default.
DEFAULT_LATENCY_BUDGET = {"percentile": 99.0, "ms": 50.0}
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class BundleError(Taste2VecError):
    """A model bundle is missing, corrupt, tampered with, or does not fit this SDK."""


class BundleSignatureError(BundleError):
    """A bundle's origin is not established: unsigned, signed by an untrusted key, or a signature that fails."""


@dataclass(frozen=True)
class _TrustPolicy:
    keys: tuple[TrustedKey, ...]
    allow_unsigned: bool
    min_version: str | None = None  # anti-rollback floor: the version in use
    allow_downgrade: bool = False


def _in_package(path: Path) -> bool:
    """Whether ``path`` lies in this installed package's models folder (trusted as part of the package)."""
    try:
        root = (Path(__file__).parent / "models").resolve()
        return path.resolve().is_relative_to(root)
    except OSError:
        return False


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_path(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class DowngradeError(BundleError):
    """A bundle older than the version in use (the caller's floor) was refused: anti-rollback. Moving back to an
    older version is done on purpose (``allow_downgrade``, ``taste2vec-lifecycle rollback``), never by accident."""


def version_key(version: str) -> tuple[int, ...]:
    """The order of bundle versions: MAJOR.MINOR.PATCH numerically, a pre-release (``1.2.0-rc1``) before its
    release, build metadata (``+...``) ignored; pre-releases of one release are equal. BundleError for anything
    that is not a semantic version."""
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise BundleError(f"bundle version {version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    core, _, pre = version.split("+")[0].partition("-")
    return tuple(int(x) for x in core.split(".")) + (0 if pre else 1,)


def check_not_older(version: str, floor: str | None, allow_downgrade: bool = False, what: str = "bundle") -> None:
    """Anti-rollback: :class:`DowngradeError` when ``version`` is older than ``floor`` (the version in use; None: no
    floor) and the caller did not allow a downgrade. An equal version passes (a reinstall)."""
    if floor is None or allow_downgrade:
        return
    if version_key(version) < version_key(floor):
        raise DowngradeError(f"{what} {version} is older than {floor}, the version in use: refused (anti-rollback; "
                             "a deliberate downgrade needs allow_downgrade / --allow-downgrade)")


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
    trusted_as: str = "unsigned (allowed)"  # how its origin was established (see load)

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
    def latency_budget(self) -> dict[str, float]:
        """The latency the model was built for: ``{"percentile": 99.0, "ms": 50.0}`` (the manifest's
        ``latency_budget``; bundles written before it was recorded get the product's budget, p99 50 ms)."""
        b = self.manifest.get("latency_budget") or DEFAULT_LATENCY_BUDGET
        return {"percentile": float(b["percentile"]), "ms": float(b["ms"])}

    @property
    def model_path(self) -> Path | None:
        return None if self.path is None or not self.path.is_dir() else self.path / "model.tflite"

    def file_bytes(self, name: str) -> bytes:
        """A verified file of the bundle by name (e.g. ``golden_outputs.json``; ``manifest.json`` and
        ``manifest.sig`` are the exact bytes that were verified)."""
        if name not in self._files:
            raise BundleError(f"{self.origin}: no file {name!r} in this bundle (has {sorted(self._files)})")
        return self._files[name]

    def packed(self) -> bytes:
        """The bundle as a zip of exactly the bytes that were verified (files under ``<name>-<version>/``, fixed
        timestamps: reproducible), whatever happened on disk since: what ``from_buffer`` and an app take, and
        what a process that must load the same bundle is given."""
        buf = io.BytesIO()
        names = [MANIFEST, *([SIGNATURE_FILE] if SIGNATURE_FILE in self._files else []), *sorted(self.manifest["files"])]
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in names:
                info = zipfile.ZipInfo(f"{self.model_id}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, self._files[name])
        return buf.getvalue()

    @property
    def origin(self) -> str:
        return str(self.path) if self.path is not None else "<bundle in memory>"

    def model_bytes(self) -> bytes:
        """The verified flatbuffer: the bytes checked against the manifest at load, never re-read from disk (a file
        replaced afterwards cannot slip in between verification and use)."""
        return self._files["model.tflite"]

    @classmethod
    def load(cls, path: str | Path, trusted_keys: Iterable[PublicKeyLike] | None = None,
             allow_unsigned: bool = False, min_version: str | None = None,
             allow_downgrade: bool = False) -> "ModelBundle":
        """Verify and load a bundle folder or a ``.zip`` of one; raise ``BundleError`` on any mismatch.

        Origin: the bundle must carry a signature (``manifest.sig``) that one of ``trusted_keys`` verifies (PEM
        text, PEM file paths or raw 32-byte Ed25519 public keys), else :class:`BundleSignatureError`; the bundle
        inside this installed package is trusted as part of the package. ``allow_unsigned=True`` (development)
        accepts unsigned bundles and unknown keys, never a signature that fails to verify.

        Anti-rollback: with ``min_version`` (the version in use), an older bundle is a :class:`DowngradeError`
        unless ``allow_downgrade``.
        """
        path = Path(path)
        trust = _TrustPolicy(load_trusted_keys(trusted_keys), bool(allow_unsigned) or _in_package(path),
                             min_version, bool(allow_downgrade))
        if path.is_file() and zipfile.is_zipfile(path):
            if path.stat().st_size > MAX_BUNDLE_BYTES:
                raise BundleError(f"{path}: {path.stat().st_size} bytes, more than a bundle may hold "
                                  f"({MAX_BUNDLE_BYTES >> 20} MB)")
            with _ZipSource(path.read_bytes(), str(path)) as src:
                return cls._verify(src, path, trust)
        if not path.is_dir():
            raise BundleError(f"{path}: not a bundle folder or a bundle .zip")
        return cls._verify(_FolderSource(path), path, trust)

    @classmethod
    def from_buffer(cls, data: bytes, trusted_keys: Iterable[PublicKeyLike] | None = None,
                    allow_unsigned: bool = False, min_version: str | None = None,
                    allow_downgrade: bool = False) -> "ModelBundle":
        """Verify and load a bundle from the bytes of its ``.zip`` (see :func:`pack_bundle`); origin and
        anti-rollback as in :meth:`load`."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BundleError(f"model_asset_buffer must be bytes, got {type(data).__name__}")
        if len(data) > MAX_BUNDLE_BYTES:
            raise BundleError(f"model_asset_buffer: {len(data)} bytes, more than a bundle may hold "
                              f"({MAX_BUNDLE_BYTES >> 20} MB)")
        trust = _TrustPolicy(load_trusted_keys(trusted_keys), bool(allow_unsigned), min_version, bool(allow_downgrade))
        with _ZipSource(bytes(data), "<bundle in memory>") as src:
            return cls._verify(src, None, trust)

    @classmethod
    def _verify(cls, src: "_Source", path: Path | None, trust: "_TrustPolicy") -> "ModelBundle":
        where = Path(str(path)) if path is not None else Path("<bundle in memory>")
        mpath = where / MANIFEST
        names = src.names()
        if MANIFEST not in names:
            raise BundleError(f"{where}: no {MANIFEST}")
        manifest_bytes = src.read(MANIFEST, MAX_MANIFEST_BYTES)
        # origin first: nothing else of an untrusted bundle is parsed
        signature = src.read(SIGNATURE_FILE, MAX_SIGNATURE_BYTES) if SIGNATURE_FILE in names else None
        try:
            trusted_as = verify_manifest(manifest_bytes, signature, trust.keys, trust.allow_unsigned, str(where))
        except SignatureError as e:
            raise BundleSignatureError(str(e)) from None
        manifest = parse_json(manifest_bytes, BundleError, f"{mpath}: unreadable manifest", MAX_MANIFEST_BYTES)
        check_manifest(manifest, mpath)
        if trust.min_version is not None:  # anti-rollback, before the files are read
            check_not_older(manifest["version"], trust.min_version, trust.allow_downgrade,
                            f"{where}: {manifest['name']}")
        listed = manifest["files"]
        files: dict[str, bytes] = {}
        for fname, info in listed.items():  # only listed files are read, each no further than its listed size
            fp = where / fname
            if fname not in names:
                raise BundleError(f"{fp}: listed in the manifest but missing")
            data = src.read(fname, info["size"])
            if len(data) != info["size"]:
                raise BundleError(f"{fp}: size {'more than ' if len(data) > info['size'] else ''}{len(data)} bytes, "
                                  f"manifest says {info['size']}")
            if sha256_bytes(data) != info["sha256"]:
                raise BundleError(f"{fp}: sha256 does not match the manifest (corrupt or tampered file)")
            files[fname] = data
        for extra in names:
            if extra not in (MANIFEST, SIGNATURE_FILE) and extra not in listed and \
                    Path(extra).suffix in (".tflite", ".onnx", ".json", ".sig"):
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
        for sig in manifest["signatures"]:
            inputs = {i["name"]: i for i in sig["inputs"]}
            if inputs.get("lexicon", {}).get("shape", [None])[-1] != lex.dim:
                raise BundleError(f"{mpath}: signature {sig['name']}'s lexicon input does not have the lexicon's "
                                  f"{lex.dim} entries")
            if inputs.get("metrics", {}).get("shape", [None])[-1] != spec.num_metrics:
                raise BundleError(f"{mpath}: signature {sig['name']}'s metrics input does not match the record "
                                  f"spec's {spec.num_metrics}")
        files[MANIFEST] = manifest_bytes  # the exact bytes verified, so packed() can hand them on
        if signature is not None:
            files[SIGNATURE_FILE] = signature
        return cls(path, manifest, spec, tok, lex, files, trusted_as)


def _json(data: bytes) -> Any:
    return parse_json(data, ValueError, "JSON")


def _parse(fn, fname: str, where: Path):
    try:
        return fn()
    except (Taste2VecError, TokenizerError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{where / fname}: unreadable ({e})") from e


MAX_BUNDLE_BYTES = 256 << 20  # a whole bundle (folder or zip); today's is 2 MB
MAX_MANIFEST_BYTES = 1 << 20
MAX_FILE_BYTES = 200 << 20
MAX_ENTRIES = 64  # files in a bundle folder or archive


class _Source:
    """Where a bundle's files come from: names first, then each file read no further than a byte cap."""

    def names(self) -> set[str]:
        raise NotImplementedError

    def read(self, name: str, max_bytes: int) -> bytes:
        """At most ``max_bytes + 1`` bytes of ``name`` (one more than allowed proves it is too large)."""
        raise NotImplementedError


class _FolderSource(_Source):
    def __init__(self, path: Path) -> None:
        self.path = path

    def names(self) -> set[str]:
        out = set()
        try:
            for i, p in enumerate(self.path.iterdir()):
                if i >= 4 * MAX_ENTRIES:
                    raise BundleError(f"{self.path}: more than {4 * MAX_ENTRIES} entries; not a bundle folder")
                out.add(p.name)
        except OSError as e:
            raise BundleError(f"{self.path}: cannot read the bundle ({e.strerror or e})") from None
        return out

    def read(self, name: str, max_bytes: int) -> bytes:
        p = self.path / name
        try:
            if not p.is_file():
                raise BundleError(f"{p}: not a regular file")
            with open(p, "rb") as f:
                return f.read(max_bytes + 1)
        except OSError as e:
            raise BundleError(f"{p}: cannot read ({e.strerror or e})") from None


MAX_FILE_NAME_CHARS = 100


def bundle_file_name(name: Any) -> bool:
    """A name a bundle file (or a zip's one top folder) may have: a :func:`~taste2vec.fileio.plain_name` of at most
    100 characters without control characters (docs/bundle-format.md, "Plain names")."""
    return plain_name(name) and len(name) <= MAX_FILE_NAME_CHARS and not any(c < " " for c in name)


class _ZipSource(_Source):
    """Members of a bundle zip: plain names at the top level or inside one top folder (``<name>-<version>/``).
    Members are inflated as streams and cut at the cap: the sizes an archive declares are not trusted."""

    def __init__(self, data: bytes, origin: str) -> None:
        self.origin = origin
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = [i for i in self.zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
            raise BundleError(f"{origin}: not a readable bundle archive ({e})") from None
        if len(infos) > MAX_ENTRIES:
            raise BundleError(f"{origin}: {len(infos)} archive members, a bundle has at most {MAX_ENTRIES}")
        tops = {i.filename.split("/")[0] for i in infos if "/" in i.filename}
        prefix = f"{tops.pop()}/" if len(tops) == 1 and all("/" in i.filename for i in infos) else ""
        if prefix and not bundle_file_name(prefix[:-1]):  # `../`, `/`, `C:/`, `.hidden/`: never a bundle folder
            raise BundleError(f"{origin}: archive folder {prefix[:-1]!r} is not a plain name")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for i in infos:
            name = i.filename[len(prefix):]
            if not bundle_file_name(name) or name in self.members:
                raise BundleError(f"{origin}: archive member {i.filename!r} is not a plain bundle file")
            self.members[name] = i

    def __enter__(self) -> "_ZipSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.zf.close()

    def names(self) -> set[str]:
        return set(self.members)

    def read(self, name: str, max_bytes: int) -> bytes:
        out = bytearray()
        try:
            with self.zf.open(self.members[name]) as f:
                while len(out) <= max_bytes:
                    chunk = f.read(min(1 << 20, max_bytes + 1 - len(out)))
                    if not chunk:
                        break
                    out += chunk
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError) as e:  # damaged streams, unknown methods, encrypted members
            raise BundleError(f"{self.origin}: archive member {name!r} cannot be inflated ({e})") from None
        return bytes(out)


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DTYPES = {"int32", "float32", "int8", "uint8", "int64"}


def check_manifest(m: Any, where: Path) -> None:
    """The manifest's structure and types (what the loader and the runtime rely on); BundleError naming the key.

    Bounded: at most MAX_ENTRIES files and 16 signatures of at most 16 inputs each.
    """
    def bad(key: str, what: str) -> BundleError:
        return BundleError(f"{where}: '{key}' {what}")

    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise BundleError(f"{where}: format {m.get('format') if isinstance(m, dict) else None!r}, "
                          f"this SDK reads {MANIFEST_FORMAT}")
    for key in ("name", "version"):
        if not isinstance(m.get(key), str) or len(m[key]) > 100:
            raise bad(key, "must be a string of at most 100 characters")
    validate_name_version(m["name"], m["version"])
    files = m.get("files")
    if not isinstance(files, dict) or not 0 < len(files) <= MAX_ENTRIES:
        raise bad("files", f"must be a table of 1 to {MAX_ENTRIES} files")
    for req in REQUIRED_FILES:
        if req not in files:
            raise BundleError(f"{where}: required file {req} is not listed")
    for fname, info in files.items():
        if not bundle_file_name(fname) or fname == MANIFEST:
            raise BundleError(f"{where}: file name {fname!r} is not a plain name")
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str) or \
                not _SHA256.match(info["sha256"]):
            raise bad(f"files.{fname}.sha256", "must be 64 lower-case hex digits")
        size = info.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_FILE_BYTES:
            raise bad(f"files.{fname}.size", f"must be an integer in [0, {MAX_FILE_BYTES}]")
    for key in ("record_spec", "tokenizer", "lexicon"):
        if not isinstance(m.get(key), dict) or not isinstance(m[key].get("version"), str):
            raise bad(f"{key}.version", "must be a string")
    if isinstance(m["lexicon"].get("dim"), bool) or not isinstance(m["lexicon"].get("dim"), int):
        raise bad("lexicon.dim", "must be an integer")
    emb = m.get("embedding", {})
    if not isinstance(emb, dict) or isinstance(emb.get("dim", 128), bool) or not isinstance(emb.get("dim", 128), int):
        raise bad("embedding.dim", "must be an integer")
    budget = m.get("latency_budget", DEFAULT_LATENCY_BUDGET)
    if not isinstance(budget, dict) or not all(
            isinstance(budget.get(k), (int, float)) and not isinstance(budget.get(k), bool) and lo < budget[k] <= hi
            for k, lo, hi in (("percentile", 0, 100), ("ms", 0, 60_000))):
        raise bad("latency_budget", "must be an object with percentile in (0, 100] and ms in (0, 60000]")
    sigs = m.get("signatures")
    if not isinstance(sigs, list) or not 0 < len(sigs) <= 16:
        raise bad("signatures", "must be a list of 1 to 16 model signatures")
    for k, sig in enumerate(sigs):
        if not isinstance(sig, dict) or not isinstance(sig.get("name"), str) or \
                not isinstance(sig.get("inputs"), list) or not 0 < len(sig["inputs"]) <= 16:
            raise bad(f"signatures[{k}]", "must be an object with a name and 1 to 16 inputs")
        for j, inp in enumerate(sig["inputs"]):
            shape = inp.get("shape") if isinstance(inp, dict) else None
            if not isinstance(inp, dict) or not isinstance(inp.get("name"), str) \
                    or not isinstance(inp.get("dtype"), str) or inp["dtype"] not in _DTYPES \
                    or not isinstance(shape, list) or not 0 < len(shape) <= 4 or \
                    not all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 4096 for d in shape):
                raise bad(f"signatures[{k}].inputs[{j}]", "must have a name, a dtype and a shape of 1 to 4 sizes "
                          "in [1, 4096]")


def pack_bundle(bundle_dir: str | Path, out: str | Path | None = None) -> bytes:
    """Zip a verified bundle folder (:meth:`ModelBundle.packed`: the bytes verified, reproducible); write it to
    ``out`` when given and return the bytes (what ``model_asset_buffer`` takes)."""
    data = ModelBundle.load(bundle_dir, allow_unsigned=True).packed()  # packing moves bytes; the loader judges trust
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
