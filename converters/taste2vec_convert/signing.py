"""Signing bundles (the toolkit's half of :mod:`taste2vec.signing`, which only verifies).

Keys are Ed25519. ``generate_keypair(folder)`` writes ``<name>.pem`` (the private key, PKCS#8 PEM, file mode 0600,
unencrypted unless a passphrase is given) and ``<name>.pub.pem`` (the public key, SubjectPublicKeyInfo PEM) that
apps embed and give to ``BaseOptions(trusted_keys=...)`` / the Kotlin ``ModelBundle``. Keep the private key out of
the repository and off developer laptops in production: a CI secret or a KMS-backed signer; the signing step needs
only ``sign_manifest(manifest_bytes) -> 64 bytes``.

    taste2vec-convert keygen --out ~/.taste2vec/keys            # release.pem + release.pub.pem
    taste2vec-convert sign runs/model/export/bundles/taste2vec-edge-1.8.0 --key ~/.taste2vec/keys/release.pem
    taste2vec-convert export ... --signing-key ~/.taste2vec/keys/release.pem
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from taste2vec.bundle import MANIFEST, ModelBundle
from taste2vec.fileio import plain_name, write_atomic
from taste2vec.signing import ALGORITHM, SIGNATURE_FILE, SIGNATURE_FORMAT, SignatureError, key_id


def generate_keypair(folder: str | Path, name: str = "release", passphrase: bytes | None = None) -> tuple[Path, Path]:
    """A new Ed25519 key pair in ``folder``: (private PEM, public PEM). Refuses to overwrite a private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not plain_name(name) or len(name) > 100:
        raise SignatureError(f"key name {name!r}: a plain file name inside --out (no folders, '..' or leading dot)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    if priv_path.exists():
        raise FileExistsError(f"{priv_path} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(public_pem(key))
    return priv_path, pub_path


def load_private_key(path: str | Path, passphrase: bytes | None = None):
    """The Ed25519 private key in a PEM file; SignatureError if it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=passphrase)
    except (OSError, ValueError, TypeError) as e:
        raise SignatureError(f"signing key {path}: cannot load ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"signing key {path}: a {type(key).__name__}, bundles are signed with Ed25519")
    return key


def public_pem(private_key) -> bytes:
    """The SubjectPublicKeyInfo PEM of a private key's public half."""
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def raw_public(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def signature_document(manifest_bytes: bytes, private_key) -> str:
    """The ``manifest.sig`` text for these exact manifest bytes."""
    sig = private_key.sign(manifest_bytes)
    return json.dumps({"format": SIGNATURE_FORMAT, "algorithm": ALGORITHM, "key_id": key_id(raw_public(private_key)),
                       "signature": base64.b64encode(sig).decode("ascii")}, indent=1) + "\n"


def sign_bundle(bundle_dir: str | Path, key_path: str | Path, passphrase: bytes | None = None) -> Path:
    """Verify a bundle folder's files, then write its ``manifest.sig`` (replacing an older one); returns the path.
    The result loads with the key's public half among the trusted keys."""
    bundle_dir = Path(bundle_dir)
    ModelBundle.load(bundle_dir, allow_unsigned=True)  # integrity before origin: never sign a broken bundle
    key = load_private_key(key_path, passphrase)
    out = write_atomic(bundle_dir / SIGNATURE_FILE, signature_document((bundle_dir / MANIFEST).read_bytes(), key))
    ModelBundle.load(bundle_dir, trusted_keys=[public_pem(key)])
    return out
