"""Bundle signatures: who made a bundle, on top of the manifest's hashes that say it is intact.

A signed bundle carries ``manifest.sig`` beside ``manifest.json``::

    {"format": "taste2vec.signature/1", "algorithm": "Ed25519",
     "key_id": "<first 16 hex digits of SHA-256 of the raw 32-byte public key>",
     "signature": "<base64 of the 64-byte Ed25519 signature of the exact bytes of manifest.json>"}

The manifest lists every file with its SHA-256, so one signature covers the whole bundle. Ed25519 signatures are
deterministic: the same key signs the same manifest to the same bytes. Public keys are given as PEM
(``-----BEGIN PUBLIC KEY-----``, X.509 SubjectPublicKeyInfo, what ``openssl pkey -pubout`` and Java's
``X509EncodedKeySpec`` use), as a path to such a file, or as the raw 32 bytes.

This module only verifies (the SDK's runtime needs ``cryptography`` for that alone); signing and key generation
live in the toolkit (``taste2vec-convert keygen`` / ``sign`` / ``export --signing-key``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

from .errors import Taste2VecError
from .fileio import parse_json

SIGNATURE_FILE = "manifest.sig"
SIGNATURE_FORMAT = "taste2vec.signature/1"
ALGORITHM = "Ed25519"
MAX_SIGNATURE_BYTES = 4096

PublicKeyLike = Union[bytes, str, Path]


class SignatureError(Taste2VecError):
    """A bundle's signature is missing, malformed, made by an untrusted key, or does not verify."""


@dataclass(frozen=True)
class TrustedKey:
    """A parsed Ed25519 public key and its id."""

    raw: bytes
    key_id: str

    def verify(self, signature: bytes, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
            return True
        except InvalidSignature:
            return False


def key_id(raw_public_key: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def load_public_key(key: PublicKeyLike) -> TrustedKey:
    """A trusted key from PEM text / bytes, a path to a PEM file, or the raw 32 bytes; SignatureError otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data: bytes
    if isinstance(key, Path) or (isinstance(key, str) and not key.lstrip().startswith("-----BEGIN")):
        try:
            with open(key, "rb") as f:
                data = f.read(MAX_SIGNATURE_BYTES + 1)
        except OSError as e:
            raise SignatureError(f"trusted key {key}: cannot read ({e.strerror or e})") from None
    elif isinstance(key, str):
        data = key.encode("ascii", "replace")
    elif isinstance(key, (bytes, bytearray)):
        data = bytes(key)
    else:
        raise SignatureError(f"trusted key: expected PEM text, a PEM file path or 32 raw bytes, got "
                             f"{type(key).__name__}")
    if len(data) == 32:
        return TrustedKey(data, key_id(data))
    if len(data) > MAX_SIGNATURE_BYTES:
        raise SignatureError("trusted key: more than 4 KB; not a PEM public key")
    try:
        pub = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise SignatureError(f"trusted key: not a PEM public key ({e})") from None
    if not isinstance(pub, Ed25519PublicKey):
        raise SignatureError(f"trusted key: a {type(pub).__name__}; bundles are signed with Ed25519")
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return TrustedKey(raw, key_id(raw))


def load_trusted_keys(keys: Iterable[PublicKeyLike] | None) -> tuple[TrustedKey, ...]:
    """Parse every trusted key (an empty tuple for None)."""
    if keys is None:
        return ()
    if isinstance(keys, (str, bytes, Path)):
        keys = [keys]
    return tuple(k if isinstance(k, TrustedKey) else load_public_key(k) for k in keys)


def parse_signature(data: bytes, where: str) -> dict[str, Any]:
    """The ``manifest.sig`` document, checked for shape; SignatureError naming what is wrong."""
    doc = parse_json(data, SignatureError, f"{where}: unreadable signature", MAX_SIGNATURE_BYTES, 4)
    if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT:
        raise SignatureError(f"{where}: not a {SIGNATURE_FORMAT} document")
    if doc.get("algorithm") != ALGORITHM:
        raise SignatureError(f"{where}: algorithm {doc.get('algorithm')!r}, this SDK verifies {ALGORITHM}")
    if not isinstance(doc.get("key_id"), str) or len(doc["key_id"]) != 16:
        raise SignatureError(f"{where}: 'key_id' must be 16 hex digits")
    try:
        sig = base64.b64decode(doc.get("signature") if isinstance(doc.get("signature"), str) else "", validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{where}: 'signature' is not base64") from None
    if len(sig) != 64:
        raise SignatureError(f"{where}: an Ed25519 signature has 64 bytes, this one {len(sig)}")
    return {**doc, "signature_bytes": sig}


def verify_manifest(manifest_bytes: bytes, signature: bytes | None, trusted: tuple[TrustedKey, ...],
                    allow_unsigned: bool, where: str) -> str:
    """Check a bundle's signature against the trusted keys; returns how it was trusted.

    ``"signed by <key id>"`` when a trusted key verifies it. An unsigned bundle, or one signed by a key that is not
    trusted, passes only with ``allow_unsigned`` (``"unsigned (allowed)"`` / ``"untrusted key <id> (allowed)"``).
    A signature by a trusted key that does not verify (a changed manifest) is refused always.
    """
    if signature is None:
        if allow_unsigned:
            return "unsigned (allowed)"
        raise SignatureError(f"{where}: the bundle is not signed (no {SIGNATURE_FILE}); give the app's trusted "
                             "public keys and a signed bundle, or allow_unsigned=True for development")
    doc = parse_signature(signature, f"{where}/{SIGNATURE_FILE}")
    match = [k for k in trusted if k.key_id == doc["key_id"]]
    if not match:
        if allow_unsigned:
            return f"untrusted key {doc['key_id']} (allowed)"
        known = ", ".join(k.key_id for k in trusted) or "none given"
        raise SignatureError(f"{where}: signed by key {doc['key_id']}, which is not trusted (trusted: {known})")
    if not match[0].verify(doc["signature_bytes"], manifest_bytes):
        raise SignatureError(f"{where}: the signature by key {doc['key_id']} does not verify: manifest.json was "
                             "changed after signing")
    return f"signed by {doc['key_id']}"


TRUSTED_KEYS_ENV = "TASTE2VEC_TRUSTED_KEYS"


def add_trust_arguments(parser: Any) -> None:
    """``--trusted-key PEM`` (repeatable) and ``--allow-unsigned`` for command lines that load bundles."""
    parser.add_argument("--trusted-key", action="append", default=[], metavar="PEM",
                        help=f"public key (PEM file) a bundle's signature must verify against; repeatable "
                             f"(default: the files listed in ${TRUSTED_KEYS_ENV}, separated by ':'). The bundle "
                             "shipped inside the package needs none")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="development only: accept unsigned bundles and unknown keys (a signature that fails "
                             "to verify is still refused)")


def trust_from_args(args: Any) -> dict[str, Any]:
    """``trusted_keys`` / ``allow_unsigned`` keyword arguments from :func:`add_trust_arguments`' options."""
    import os

    keys = list(getattr(args, "trusted_key", None) or [])
    if not keys and os.environ.get(TRUSTED_KEYS_ENV):
        keys = [k for k in os.environ[TRUSTED_KEYS_ENV].split(os.pathsep) if k]
    return {"trusted_keys": tuple(Path(k) for k in keys), "allow_unsigned": bool(getattr(args, "allow_unsigned",
                                                                                          False))}
