"""Model bundles: written bundles verify and run; a tampered, mismatched or incomplete bundle is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from taste2vec.bundle import BundleError, ModelBundle
from taste2vec.runtime import ModelRuntimeError, TasteModel


def test_written_bundle_verifies_and_runs(make_bundle):
    b = make_bundle()
    assert b.path.name == "taste2vec-test-1.0.0"
    m = b.manifest
    assert set(m["files"]) == {"model.tflite", "tokenizer.json", "sensory_lexicon.json", "record_spec.json"}
    assert all(len(f["sha256"]) == 64 for f in m["files"].values())
    assert m["record_spec"]["version"] == b.spec.version and m["lexicon"]["dim"] == b.lexicon.dim
    model = TasteModel(b.model_bytes())
    ids = np.zeros((1, 8), np.int32)
    ids[0, :3] = b.tokenizer.encode("bright jasmine").ids[:3]
    out = model.run({"token_ids": ids, "lexicon": np.zeros((1, b.lexicon.dim), np.float32),
                     "metrics": np.zeros((1, 20), np.float32), "metrics_mask": np.zeros((1, 20), np.float32),
                     "context": np.zeros((1, 8, 33), np.float32), "context_mask": np.zeros((1, 8), np.float32)})
    assert out.shape == (1, 128) and abs(np.linalg.norm(out) - 1) < 1e-4
    with pytest.raises(ModelRuntimeError, match="buckets"):
        model.run({"token_ids": np.zeros((1, 5), np.int32)})


def test_changed_byte_is_refused(make_bundle):
    b = make_bundle()
    raw = bytearray((b.path / "model.tflite").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (b.path / "model.tflite").write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="model.tflite: sha256 does not match"):
        ModelBundle.load(b.path, allow_unsigned=True)


def test_a_model_changed_on_disk_after_loading_is_never_used(make_bundle):
    """What was verified is what runs: the bytes checked at load, also when the file is replaced afterwards (and a
    packed copy for another process is those bytes too, signature included)."""
    b = make_bundle()
    verified = b.model_bytes()
    (b.path / "model.tflite").write_bytes(verified[:-1] + b"\x00")
    assert b.model_bytes() == verified
    again = ModelBundle.from_buffer(b.packed(), allow_unsigned=True)
    assert again.model_bytes() == verified and again.manifest == b.manifest
    with pytest.raises(BundleError, match="sha256 does not match"):
        ModelBundle.load(b.path, allow_unsigned=True)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["record_spec"].update(version="2.0.0"), "record_spec.json: version"),
    (lambda m: m["tokenizer"].update(version="9.9.9"), "tokenizer.json: version"),
    (lambda m: m["lexicon"].update(dim=3), "sensory_lexicon.json: version"),
    (lambda m: m.update(format="taste2vec.bundle/99"), "this SDK reads"),
    (lambda m: m.update(version="one"), "semantic version"),
])
def test_wrong_versions_in_the_manifest_are_refused(make_bundle, edit, message):
    b = make_bundle()
    m = json.loads((b.path / "manifest.json").read_text())
    edit(m)
    (b.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=message):
        ModelBundle.load(b.path, allow_unsigned=True)


def test_record_spec_of_another_major_version_is_refused(make_bundle):
    b = make_bundle()
    spec = json.loads((b.path / "record_spec.json").read_text())
    spec["version"] = "2.0.0"
    (b.path / "record_spec.json").write_text(json.dumps(spec))
    m = json.loads((b.path / "manifest.json").read_text())
    from taste2vec.bundle import sha256_path

    m["files"]["record_spec.json"] = {"sha256": sha256_path(b.path / "record_spec.json"),
                                      "size": (b.path / "record_spec.json").stat().st_size}
    m["record_spec"]["version"] = "2.0.0"
    (b.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="major version 2 is not supported"):
        ModelBundle.load(b.path, allow_unsigned=True)


def test_missing_and_unlisted_files_are_refused(make_bundle, tmp_path):
    b = make_bundle()
    (b.path / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match="tokenizer.json: listed in the manifest but missing"):
        ModelBundle.load(b.path, allow_unsigned=True)
    c = make_bundle(version="1.0.1")
    shutil.copy(c.path / "model.tflite", c.path / "other.tflite")
    with pytest.raises(BundleError, match="not listed"):
        ModelBundle.load(c.path, allow_unsigned=True)
    (c.path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        ModelBundle.load(c.path, allow_unsigned=True)
    with pytest.raises(BundleError, match="not a bundle folder"):
        ModelBundle.load(tmp_path / "nowhere", allow_unsigned=True)


def test_shipped_default_bundle_verifies_and_embeds():
    from taste2vec.bundle import default_bundle_path

    b = ModelBundle.load(default_bundle_path())
    assert b.model_path.stat().st_size <= 3 * 1024 * 1024  # the on-device size budget: a model file of at most 3 MB
    assert b.manifest["parity"]["passed"] and b.manifest["parity"]["cos_mean"] >= 0.99
    m = TasteModel(b.model_bytes())
    assert m.buckets == tuple(b.tokenizer.buckets)


def test_versions_order_semantically():
    from taste2vec.bundle import version_key

    ordered = ["0.9.9", "1.2.0-rc1", "1.2.0", "1.2.1", "1.10.0", "2.0.0-alpha", "2.0.0+build.7"]
    assert sorted(ordered, key=version_key) == ordered
    assert version_key("1.2.0+meta") == version_key("1.2.0")
    for bad in ("1.2", "v1.2.0", "", None, "1.2.0.0"):
        with pytest.raises(BundleError, match="not a semantic version"):
            version_key(bad)


def test_an_older_bundle_than_the_one_in_use_is_refused_unless_a_downgrade_is_allowed(make_bundle, signing_key):
    from taste2vec import BaseOptions, Embedder, EmbedderOptions
    from taste2vec.bundle import DowngradeError

    old = make_bundle("1.0.0")
    keys = (signing_key[1],)
    for load in (lambda **kw: ModelBundle.load(old.path, trusted_keys=keys, **kw),
                 lambda **kw: ModelBundle.from_buffer(old.packed(), trusted_keys=keys, **kw)):
        with pytest.raises(DowngradeError, match="1.0.0 is older than 1.1.0, the version in use"):
            load(min_version="1.1.0")
        assert load(min_version="1.1.0", allow_downgrade=True).version == "1.0.0"
        assert load(min_version="1.0.0").version == "1.0.0"  # a reinstall
        assert load(min_version="1.0.0-rc2").version == "1.0.0"
    with pytest.raises(DowngradeError):
        Embedder.create_from_options(EmbedderOptions(BaseOptions(model_asset_path=old.path, trusted_keys=keys,
                                                                 min_version="1.4.2")))
    with pytest.raises(BundleError, match="not a semantic version"):
        ModelBundle.load(old.path, trusted_keys=keys, min_version="latest")


def test_a_rollout_variant_older_than_the_installed_model_is_refused(make_bundle, tmp_path):
    from taste2vec.bundle import DowngradeError
    from taste2vec.rollout import RolloutConfig, RolloutVariant, resolve_model

    models = tmp_path / "bundles"
    make_bundle("1.0.0", root=models)
    cfg = RolloutConfig("e", (RolloutVariant("control", "taste2vec-test-1.0.0", 100.0),))
    assert resolve_model(cfg, "u", models).name == "taste2vec-test-1.0.0"
    with pytest.raises(DowngradeError, match="variant 'control'"):
        resolve_model(cfg, "u", models, installed="1.4.2")
    assert resolve_model(cfg, "u", models, installed="1.4.2", allow_downgrade=True).name == "taste2vec-test-1.0.0"
