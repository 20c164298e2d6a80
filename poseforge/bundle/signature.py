"""Who made a bundle: Ed25519 keys (`poseforge keygen`), a signature over bundle.json, and its check.

bundle.json lists the sha256 and size of every other file of the bundle, so a signature over its
exact bytes covers the whole bundle. The signature travels as the member bundle.sig (schema
documents.SIGNATURE): the algorithm, the signer's public key and the signature over CONTEXT
followed by bundle.json's bytes (the context keeps a poseforge signature from meaning anything
anywhere else). Ed25519 signatures are deterministic: the same bundle.json signed with the same
key gives the same bytes. Keys are PEM files: the private key PKCS#8 (unencrypted, mode 0600),
the public key SubjectPublicKeyInfo, beside it as KEY.pub.

Hashes are integrity (the files are the ones bundle.json lists); a signature by a key you trust is
authenticity (bundle.json, and so every file, is the one that key's holder signed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poseforge.documents import SIGNATURE, check_document, loads, read_bytes
from poseforge.errors import PoseforgeError
from poseforge.fileio import create_new, json_text

ALGORITHM = "ed25519"
CONTEXT = b"poseforge bundle signature 1\n"
PUBLIC_SUFFIX = ".pub"
MAX_KEY_BYTES = 16 << 10  # a PEM Ed25519 key is about 120 bytes


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key and where it came from (for messages)."""

    raw: bytes  # the 32 bytes of the key
    source: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def __str__(self) -> str:
        return f"{self.fingerprint} in {self.source}"


def fingerprint(raw: bytes) -> str:
    """How poseforge names a key: the sha256 of its 32 raw bytes, as `ed25519:<hex>`."""
    return f"{ALGORITHM}:{hashlib.sha256(raw).hexdigest()}"


def read_public_key(path: str | Path) -> PublicKey:
    """The Ed25519 public key in a PEM file (KEY.pub from `poseforge keygen`)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    path = Path(path)
    data = read_bytes(path, "public key", MAX_KEY_BYTES)
    if b"PRIVATE KEY" in data:
        raise PoseforgeError(f"{path} is a private key: trust takes public keys ({path.name}{PUBLIC_SUFFIX})")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise PoseforgeError(f"{path} is not a PEM public key ({str(exc)[:120]})") from None
    except UnsupportedAlgorithm as exc:  # a key of a curve or type the library cannot load is not ours either
        raise PoseforgeError(f"{path} is not an Ed25519 public key ({str(exc)[:120]})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PoseforgeError(f"{path} is not an Ed25519 public key (a {type(key).__name__[:40]})")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(raw, str(path))


def trusted_keys(keys: Sequence[str | Path | PublicKey]) -> list[PublicKey]:
    """Key files (or keys) to trust; an empty list is refused rather than read as `trust anyone`."""
    if isinstance(keys, str | Path) or not keys:
        raise PoseforgeError("trusted keys must be a non-empty list of public key files (None: no signature required)")
    return [key if isinstance(key, PublicKey) else read_public_key(key) for key in keys]


def read_private_key(path: str | Path) -> Any:
    """The Ed25519 private key in a PEM file (KEY from `poseforge keygen`)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    data = read_bytes(path, "private key", MAX_KEY_BYTES)
    if b"PUBLIC KEY" in data:
        raise PoseforgeError(f"{path} is a public key: signing takes the private key `poseforge keygen` wrote")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise PoseforgeError(f"{path} is encrypted: poseforge signs with unencrypted keys (poseforge keygen)") from None
    except ValueError as exc:
        raise PoseforgeError(f"{path} is not a PEM private key ({str(exc)[:120]})") from None
    except UnsupportedAlgorithm as exc:
        raise PoseforgeError(f"{path} is not an Ed25519 private key ({str(exc)[:120]})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PoseforgeError(f"{path} is not an Ed25519 private key (a {type(key).__name__[:40]})")
    return key


def generate_key(path: str | Path) -> PublicKey:
    """Write a new key pair: the private key to `path` (mode 0600) and its public key to `path`.pub;
    neither replaces anything. Returns the public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path)
    if not path.name:  # "." or "/"
        raise PoseforgeError(f"{path} is a folder: name the file to write the private key to")
    if path.name.endswith(PUBLIC_SUFFIX):  # a private key under a public key's name is one a user may publish
        raise PoseforgeError(f"{path}: -o names the private key, which a {PUBLIC_SUFFIX} name would pass for a public "
                             f"one; its public key is written to -o{PUBLIC_SUFFIX}")  # fmt: skip
    public_path = path.with_name(path.name + PUBLIC_SUFFIX)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key()
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    create_new([(path, private_pem, 0o600), (public_path, public_pem, 0o644)], "keygen")
    return PublicKey(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw), str(public_path))


def sign(private_key: Any, manifest: bytes) -> bytes:
    """bundle.sig for bundle.json's exact bytes `manifest`."""
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    document = {
        "schema": SIGNATURE.schema,
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(raw).decode(),
        "signature": base64.b64encode(private_key.sign(CONTEXT + manifest)).decode(),
    }
    return json_text(document).encode()


def check_signature(signature: bytes, manifest: bytes, trusted: Sequence[PublicKey] | None, where: str) -> PublicKey:
    """The key that signed `manifest`, if bundle.sig's signature verifies and, when `trusted` keys
    are given, the key is one of them; else a PoseforgeError about `where` (the bundle)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    document = check_document(loads(signature, "JSON document", f"{where}: bundle.sig"), SIGNATURE,
                              f"{where}: bundle.sig")  # fmt: skip
    try:
        raw = base64.b64decode(document["public_key"], validate=True)
        value = base64.b64decode(document["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise PoseforgeError(f"{where}: bundle.sig holds a key or signature that is not base64") from None
    signer = PublicKey(raw, "bundle.sig")
    if trusted is not None and raw not in {key.raw for key in trusted}:
        names = ", ".join(map(str, trusted))
        raise PoseforgeError(f"{where} is signed by {signer.fingerprint}, which is not a trusted key: {names}")
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(value, CONTEXT + manifest)
    except (InvalidSignature, ValueError):
        raise PoseforgeError(
            f"{where}: its signature (bundle.sig) does not verify: bundle.json was changed after it was signed"
        ) from None
    return next((key for key in trusted or () if key.raw == raw), signer)
