"""Signed bundles: origin on top of integrity. Unsigned or foreign bundles are refused unless the caller opts in;
a changed manifest never passes a trusted key; the packaged bundle is trusted as part of the package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from taste2vec import Embedder
from taste2vec.bundle import BundleSignatureError, ModelBundle, default_bundle_path, pack_bundle, sha256_bytes
from taste2vec.registry import ModelRegistry
from taste2vec.signing import SignatureError, load_public_key


def test_a_signed_bundle_loads_with_its_key_in_every_form(make_bundle, signing_key):
    b = make_bundle()
    pub_path = signing_key[1]
    pem = pub_path.read_text()
    raw = load_public_key(pub_path).raw
    for key in (pub_path, str(pub_path), pem, pem.encode(), raw):
        loaded = ModelBundle.load(b.path, trusted_keys=[key])
        assert loaded.trusted_as == f"signed by {load_public_key(pub_path).key_id}"
    zipped = pack_bundle(b.path)
    assert ModelBundle.from_buffer(zipped, trusted_keys=[pub_path]).trusted_as.startswith("signed by")


def test_unsigned_and_foreign_bundles_need_the_development_opt_in(make_bundle, tmp_path, signing_key):
    from taste2vec_convert.signing import generate_keypair

    unsigned = make_bundle("1.0.1", root=tmp_path / "u", signed=False)
    with pytest.raises(BundleSignatureError, match="not signed"):
        ModelBundle.load(unsigned.path, trusted_keys=[signing_key[1]])
    assert ModelBundle.load(unsigned.path, allow_unsigned=True).trusted_as == "unsigned (allowed)"
    _, other_pub = generate_keypair(tmp_path / "k", "other")
    signed = make_bundle("1.0.2", root=tmp_path / "s")
    with pytest.raises(BundleSignatureError, match="which is not trusted"):
        ModelBundle.load(signed.path, trusted_keys=[other_pub])
    with pytest.raises(BundleSignatureError, match="none given"):
        ModelBundle.load(signed.path)
    assert "(allowed)" in ModelBundle.load(signed.path, allow_unsigned=True).trusted_as


def test_a_rehashed_mutated_model_is_refused_before_the_interpreter(make_bundle, signing_key, monkeypatch):
    import taste2vec.embedder as embedder_module

    b = make_bundle()
    model = bytearray((b.path / "model.tflite").read_bytes())
    model[len(model) // 3] ^= 0x20
    (b.path / "model.tflite").write_bytes(bytes(model))
    m = json.loads((b.path / "manifest.json").read_text())
    m["files"]["model.tflite"] = {"sha256": sha256_bytes(bytes(model)), "size": len(model)}
    (b.path / "manifest.json").write_text(json.dumps(m))  # consistent hashes: only the signature can tell

    calls = []
    monkeypatch.setattr(embedder_module, "TasteModel", lambda *a, **k: calls.append(a) or 1 / 0)
    with pytest.raises(BundleSignatureError, match="does not verify"):
        Embedder.create_from_model_path(b.path, trusted_keys=[signing_key[1]])
    with pytest.raises(BundleSignatureError, match="does not verify"):  # the opt-in never excuses a bad signature
        Embedder.create_from_model_path(b.path, trusted_keys=[signing_key[1]], allow_unsigned=True)
    assert calls == []  # the interpreter never saw the mutated model


def test_signatures_are_deterministic_and_bad_signature_files_are_refused(make_bundle, signing_key):
    from taste2vec_convert.signing import sign_bundle

    b = make_bundle()
    first = (b.path / "manifest.sig").read_bytes()
    sign_bundle(b.path, signing_key[0])
    assert (b.path / "manifest.sig").read_bytes() == first  # Ed25519: same key, same manifest, same bytes
    doc = json.loads(first)
    for change in ({"algorithm": "RSA"}, {"signature": "!!"}, {"signature": "AAAA"}, {"key_id": 5},
                   {"format": "x"}):
        (b.path / "manifest.sig").write_text(json.dumps({**doc, **change}))
        with pytest.raises(BundleSignatureError):
            ModelBundle.load(b.path, trusted_keys=[signing_key[1]])
    (b.path / "manifest.sig").write_text("[" * 3000)
    with pytest.raises(BundleSignatureError):
        ModelBundle.load(b.path, trusted_keys=[signing_key[1]])


def test_bad_trusted_keys_are_signature_errors(tmp_path):
    for bad in (b"short", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
                tmp_path / "missing.pem", 42):
        with pytest.raises(SignatureError):
            load_public_key(bad)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(SignatureError, match="Ed25519"):
        load_public_key(p256)


def test_the_packaged_bundle_is_trusted_but_a_copy_elsewhere_is_not(tmp_path):
    assert ModelBundle.load(default_bundle_path()).trusted_as == "unsigned (allowed)"
    copy = tmp_path / default_bundle_path().name
    shutil.copytree(default_bundle_path(), copy)
    with pytest.raises(BundleSignatureError, match="not signed"):
        ModelBundle.load(copy)


def test_the_registry_refuses_unsigned_candidates(make_bundle, tmp_path, trusted):
    reg = ModelRegistry(tmp_path / "reg", **trusted)
    with pytest.raises(BundleSignatureError, match="not signed"):
        reg.register(make_bundle("2.0.0", root=tmp_path / "u", signed=False).path)
    entry = reg.register(make_bundle("2.0.1").path)
    assert (tmp_path / "reg" / entry["path"] / "manifest.sig").is_file()  # the copy keeps its signature
    assert reg.load("taste2vec-test").version == "2.0.1"
    with pytest.raises(BundleSignatureError):  # a registry that trusts nobody loads nothing
        ModelRegistry(tmp_path / "reg").load("taste2vec-test")


def test_cli_loads_signed_bundles_only_with_a_trusted_key(make_bundle, signing_key, capsys):
    from taste2vec.cli import main

    b = make_bundle()
    assert main(["info", "--model", str(b.path)]) == 2
    assert "not trusted" in capsys.readouterr().err
    assert main(["info", "--model", str(b.path), "--trusted-key", str(signing_key[1])]) == 0
    assert json.loads(capsys.readouterr().out)["trusted_as"].startswith("signed by")
    assert main(["embed", "--model", str(b.path), "--allow-unsigned", "--notes", "jasmine"]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["embedding"]).all()


@pytest.mark.parametrize("name", ["../../evil", "/tmp/evil", ".hidden", "a/b", "a\\b", "C:evil", ""])
def test_keygen_writes_keys_only_inside_its_folder(tmp_path, capsys, name):
    from taste2vec_convert.cli import main

    out = tmp_path / "deep" / "keys"
    assert main(["keygen", "--out", str(out), "--name", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a plain file name" in err[0]
    assert not list(tmp_path.rglob("*.pem"))  # nothing written anywhere
    assert main(["keygen", "--out", str(out), "--name", "release"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["release.pem", "release.pub.pem"]


def test_a_signature_that_is_not_strict_base64_is_refused():
    """Junk around valid base64 (which a lenient decoder would skip) is not a signature."""
    import base64

    from taste2vec.signing import parse_signature

    doc = {"format": "taste2vec.manifest-signature/1", "algorithm": "ed25519", "key_id": "0" * 16,
           "signature": base64.b64encode(b"s" * 64).decode()}
    from taste2vec import signing

    doc["format"], doc["algorithm"] = signing.SIGNATURE_FORMAT, signing.ALGORITHM
    assert len(parse_signature(json.dumps(doc).encode(), "m")["signature_bytes"]) == 64
    doc["signature"] = "!!" + doc["signature"][:-4] + "*" + doc["signature"][-4:]
    with pytest.raises(SignatureError, match="not base64"):
        parse_signature(json.dumps(doc).encode(), "m")


def test_trusted_keys_come_from_the_options_else_the_environment(tmp_path, monkeypatch):
    """--trusted-key wins; without it $TASTE2VEC_TRUSTED_KEYS (path-separated) names the keys; --allow-unsigned is
    off unless given."""
    import argparse
    import os

    from taste2vec.signing import TRUSTED_KEYS_ENV, trust_from_args

    monkeypatch.setenv(TRUSTED_KEYS_ENV, os.pathsep.join(["/k/a.pem", "", "/k/b.pem"]))
    env = trust_from_args(argparse.Namespace(trusted_key=None))
    assert env == {"trusted_keys": (Path("/k/a.pem"), Path("/k/b.pem")), "allow_unsigned": False}
    given = trust_from_args(argparse.Namespace(trusted_key=["/k/c.pem"], allow_unsigned=True))
    assert given == {"trusted_keys": (Path("/k/c.pem"),), "allow_unsigned": True}
    monkeypatch.delenv(TRUSTED_KEYS_ENV)
    assert trust_from_args(argparse.Namespace()) == {"trusted_keys": (), "allow_unsigned": False}
