"""A small local model registry: a folder of verified bundles plus ``index.json``.

    registry/
      index.json                      {"format": ..., "models": [{name, version, path, sha256 of manifest, ...}]}
      taste2vec-edge-1.0.0/           a bundle (see taste2vec.bundle)

Writes are atomic: ``register`` verifies the bundle, copies it into a temporary folder inside the registry,
renames it into place, then rewrites the index through a temporary file + ``os.replace``. A crash at any
point leaves the previous index and bundles intact; leftover ``.tmp-*`` folders are ignored and cleaned on
the next write. Writers hold an inter-process lock (``index.json.lock``), so concurrent registrations from
several processes all land. Index paths must name a folder directly inside the registry (symlinks resolved). A registered version is immutable: registering different content under the same
name and version is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from .bundle import MANIFEST, BundleError, ModelBundle, bundle_dirname, sha256_path, version_key
from .fileio import file_lock, inside, read_document, write_atomic
from .probe import probe_model
from .runtime import ModelRuntimeError
from .signing import PublicKeyLike, load_trusted_keys

INDEX = "index.json"
INDEX_FORMAT = "taste2vec.registry/1"
MAX_MODELS = 10_000


class RegistryError(BundleError):
    """The registry folder or its index is unusable, or a write was refused."""


REGISTRY_ENV = "TASTE2VEC_REGISTRY"
DEFAULT_REGISTRY = "runs/registry"


def default_registry_path() -> Path:
    """The registry every command uses unless told otherwise: ``$TASTE2VEC_REGISTRY``, else ``runs/registry``."""
    return Path(os.environ.get(REGISTRY_ENV, "").strip() or DEFAULT_REGISTRY)


class ModelRegistry:
    """Register / list / show bundles in a registry folder.

    ``trusted_keys``: the public keys a bundle's signature must verify against to be registered or loaded (see
    :meth:`ModelBundle.load <taste2vec.bundle.ModelBundle.load>`); unsigned candidates are refused unless
    ``allow_unsigned`` (development registries only).
    """

    def __init__(self, root: str | Path, trusted_keys: Iterable[PublicKeyLike] | None = None,
                 allow_unsigned: bool = False) -> None:
        self.root = Path(root)
        self.trusted_keys = load_trusted_keys(trusted_keys)
        self.allow_unsigned = bool(allow_unsigned)

    def _load(self, path: Path) -> ModelBundle:
        return ModelBundle.load(path, trusted_keys=self.trusted_keys, allow_unsigned=self.allow_unsigned)

    # --- reading -----------------------------------------------------------------------------------
    def _read_index(self) -> dict[str, Any]:
        doc = read_document(self.root / INDEX, INDEX_FORMAT, lambda: {"format": INDEX_FORMAT, "models": []},
                            RegistryError, "index")
        models = doc.get("models")
        if not isinstance(models, list) or len(models) > MAX_MODELS:
            raise RegistryError(f"{self.root / INDEX}: index.models: expected a list of at most {MAX_MODELS} entries")
        for i, m in enumerate(models):
            where = f"{self.root / INDEX}: index.models[{i}]"
            if not isinstance(m, dict):
                raise RegistryError(f"{where}: expected an object")
            for key in ("name", "version", "path", "manifest_sha256"):
                if not isinstance(m.get(key), str) or not m[key] or len(m[key]) > 200:
                    raise RegistryError(f"{where}.{key}: expected a non-empty string of at most 200 characters")
            try:
                version_key(m["version"])
            except BundleError:
                raise RegistryError(f"{where}.version: {m['version']!r} is not a MAJOR.MINOR.PATCH version") from None
            inside(self.root, m["path"], RegistryError, f"{where}.path")
        return doc

    def list(self) -> list[dict[str, Any]]:
        """Registered models, newest version of each name first."""
        models = self._read_index()["models"]
        return sorted(models, key=lambda m: (m["name"], version_key(m["version"])), reverse=True)

    def entry(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The index entry of ``name`` at ``version`` (default: the highest version)."""
        cands = [m for m in self.list() if m["name"] == name and (version is None or m["version"] == version)]
        if not cands:
            known = sorted({f"{m['name']}-{m['version']}" for m in self.list()})
            raise RegistryError(f"no model {name}{'-' + version if version else ''} in {self.root} (has {known})")
        return cands[0]

    def show(self, name: str, version: str | None = None) -> dict[str, Any]:
        """Index entry plus the bundle's verified manifest."""
        e = self.entry(name, version)
        return {**e, "manifest": self.load(name, e["version"]).manifest}

    def load(self, name: str, version: str | None = None) -> ModelBundle:
        """Load (and verify) a registered bundle."""
        e = self.entry(name, version)
        bundle = self._load(inside(self.root, e["path"], RegistryError, "index path"))
        if sha256_path(bundle.path / MANIFEST) != e["manifest_sha256"]:
            raise RegistryError(f"{bundle.path}: manifest differs from the one registered")
        return bundle

    def load_id(self, model_id: str) -> ModelBundle:
        """Load (and verify) the registered bundle whose id ``<name>-<version>`` is ``model_id`` (the ids a
        rollout config names); :class:`RegistryError` when none is registered under it."""
        for m in self.list():
            if f"{m['name']}-{m['version']}" == model_id:
                return self.load(m["name"], m["version"])
        known = sorted(f"{m['name']}-{m['version']}" for m in self.list())
        raise RegistryError(f"no model {model_id!r} in {self.root} (has {known})")

    # --- writing -----------------------------------------------------------------------------------
    def register(self, bundle_path: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Verify a bundle and add it (copied) to the registry; returns its index entry."""
        src = self._load(Path(bundle_path))
        try:  # the model runs once in a child process: a file that crashes the interpreter is refused here
            probe_model(src.model_bytes())
        except ModelRuntimeError as e:
            raise RegistryError(f"{src.origin}: refused: {e}") from None
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / INDEX):  # one writer at a time, across processes
            return self._register_locked(src, extra)

    def _register_locked(self, src: ModelBundle, extra: dict[str, Any] | None) -> dict[str, Any]:
        self._clean_leftovers()
        index = self._read_index()
        dirname = bundle_dirname(src.name, src.version)
        final = inside(self.root, dirname, RegistryError, "bundle folder")
        man_sha = sha256_path(src.path / MANIFEST)
        for m in index["models"]:
            if m["name"] == src.name and m["version"] == src.version:
                if m["manifest_sha256"] == man_sha:
                    return m  # idempotent
                raise RegistryError(f"{src.name} {src.version} is already registered with different content; "
                                    f"bump the version")
        if final.exists():  # an unindexed leftover from an interrupted register
            shutil.rmtree(final)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        try:
            shutil.copytree(src.path, tmp)
            self._load(tmp)  # the copy is complete, intact and still signed
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        man = src.manifest
        entry = {"name": src.name, "version": src.version, "path": dirname, "manifest_sha256": man_sha,
                 "model_sha256": man["files"]["model.tflite"]["sha256"],
                 "model_bytes": man["files"]["model.tflite"]["size"], "quantization": man.get("quantization"),
                 "registered": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})}
        index["models"].append(entry)
        self._write_index(index)
        return entry

    def _write_index(self, index: dict[str, Any]) -> None:
        write_atomic(self.root / INDEX, json.dumps(index, indent=2, ensure_ascii=False))

    def _clean_leftovers(self) -> None:
        for p in self.root.glob(".tmp-*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
