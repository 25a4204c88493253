"""The local model registry: register / list / show, immutability, and crash safety of writes."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from taste2vec.bundle import BundleSignatureError
from taste2vec.registry import ModelRegistry, RegistryError


def test_register_list_show(make_bundle, tmp_path, trusted):
    reg = ModelRegistry(tmp_path / "reg", **trusted)
    assert reg.list() == []
    e1 = reg.register(make_bundle("1.0.0").path)
    e2 = reg.register(make_bundle("1.2.0").path)
    assert [m["version"] for m in reg.list()] == ["1.2.0", "1.0.0"]
    assert reg.entry("taste2vec-test")["version"] == "1.2.0"
    shown = reg.show("taste2vec-test", "1.0.0")
    assert shown["manifest"]["version"] == "1.0.0" and shown["model_sha256"] == e1["model_sha256"]
    assert reg.load("taste2vec-test").version == "1.2.0" and e2["path"] == "taste2vec-test-1.2.0"
    assert reg.register(make_bundle("1.0.0").path)["manifest_sha256"] == e1["manifest_sha256"]  # idempotent
    with pytest.raises(RegistryError, match="no model"):
        reg.entry("taste2vec-test", "3.0.0")


def test_same_version_with_different_content_is_refused(make_bundle, tiny_bundle_parts, tmp_path, trusted,
                                                        signing_key):
    from taste2vec_convert.signing import sign_bundle

    reg = ModelRegistry(tmp_path / "reg", **trusted)
    reg.register(make_bundle("1.0.0").path)
    model, _, _ = tiny_bundle_parts
    other = make_bundle("1.0.0", root=tmp_path / "other", model_bytes=model + b"")  # same bytes -> same hash
    assert reg.register(other.path)  # identical content: fine
    changed = make_bundle("1.0.0", root=tmp_path / "changed")
    m = json.loads((changed.path / "manifest.json").read_text())
    m["description"] = "something else"
    (changed.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleSignatureError, match="does not verify"):  # the signature no longer fits the manifest
        reg.register(changed.path)
    sign_bundle(changed.path, signing_key[0])  # re-signed by the same (trusted) key
    with pytest.raises(RegistryError, match="already registered"):
        reg.register(changed.path)


def test_registry_survives_an_interrupted_copy(make_bundle, tmp_path, monkeypatch, trusted):
    reg = ModelRegistry(tmp_path / "reg", **trusted)
    reg.register(make_bundle("1.0.0").path)
    before = (tmp_path / "reg" / "index.json").read_bytes()
    bundle = make_bundle("1.1.0")  # built before the crash is staged
    real_copytree = shutil.copytree

    def dies_half_way(src, dst, *a, **k):  # the process "dies" after copying part of the bundle
        os.makedirs(dst)
        shutil.copyfile(os.path.join(src, "manifest.json"), os.path.join(dst, "manifest.json"))
        raise KeyboardInterrupt("power loss")

    monkeypatch.setattr(shutil, "copytree", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        reg.register(bundle.path)
    monkeypatch.undo()
    assert shutil.copytree is real_copytree
    assert (tmp_path / "reg" / "index.json").read_bytes() == before
    assert [m["version"] for m in reg.list()] == ["1.0.0"] and reg.load("taste2vec-test").version == "1.0.0"
    assert not (tmp_path / "reg" / "taste2vec-test-1.1.0").exists()
    reg.register(make_bundle("1.1.0").path)  # a retry works and cleans leftovers
    assert [m["version"] for m in reg.list()] == ["1.1.0", "1.0.0"]
    assert not list((tmp_path / "reg").glob(".tmp-*"))


def test_registry_survives_an_interrupted_index_write(make_bundle, tmp_path, monkeypatch, trusted):
    reg = ModelRegistry(tmp_path / "reg", **trusted)
    reg.register(make_bundle("1.0.0").path)
    before = (tmp_path / "reg" / "index.json").read_bytes()
    real_replace = os.replace

    def crash_on_index(src, dst):
        if str(dst).endswith("index.json"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_index)
    with pytest.raises(OSError, match="disk full"):
        reg.register(make_bundle("2.0.0").path)
    monkeypatch.undo()
    assert (tmp_path / "reg" / "index.json").read_bytes() == before  # old index intact, never half-written
    assert [m["version"] for m in reg.list()] == ["1.0.0"]
    reg.register(make_bundle("2.0.0").path)  # the unindexed bundle folder is replaced on retry
    assert reg.load("taste2vec-test", "2.0.0").version == "2.0.0"


def test_corrupt_index_is_reported(tmp_path):
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(RegistryError, match="corrupt index"):
        ModelRegistry(tmp_path).list()
