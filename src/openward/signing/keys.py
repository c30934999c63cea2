"""Signing keys: generation, PEM files, loading, and the OMS key hint."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from openward.errors import OpenwardError

__all__ = [
    "KeyFileError",
    "PrivateKey",
    "PublicKey",
    "generate_key",
    "key_hint",
    "load_private_key",
    "load_public_key",
    "write_key_pair",
]

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_CURVES = {"secp256r1", "secp384r1", "secp521r1"}


class KeyFileError(OpenwardError):
    """A key file is missing, unreadable, encrypted without a passphrase, or unsupported."""


def generate_key(kind: Literal["ecdsa-p256", "ecdsa-p384", "ed25519"] = "ecdsa-p256") -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curve = ec.SECP384R1() if kind == "ecdsa-p384" else ec.SECP256R1()
    return ec.generate_private_key(curve)


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, readable by its owner only, never world-readable,
    never overwriting: written to a unique temporary file, then hard-linked into place
    (atomic, and it fails if another process created the key first)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; refusing to overwrite a private key") from None
    finally:
        os.unlink(tmp)


def write_key_pair(
    key: PrivateKey, private_path: Path, public_path: Path, passphrase: bytes | None = None
) -> None:
    """Private key as PKCS#8 PEM (encrypted when a passphrase is given, mode 0600), public
    key as SubjectPublicKeyInfo PEM."""
    if private_path.exists():
        raise KeyFileError(f"{private_path} exists; refusing to overwrite a private key")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    _write_private(private_path, pem)
    public_path.write_bytes(public_pem(key.public_key()))


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_hint(key: PublicKey) -> str:
    """OMS/model-signing's public-key hint: hex SHA-256 of the SubjectPublicKeyInfo PEM."""
    return hashlib.sha256(public_pem(key)).hexdigest()


def _check(key: object, path: Path) -> None:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise KeyFileError(f"{path}: curve {key.curve.name} is not supported (P-256/384/521)")
        return
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    raise KeyFileError(f"{path}: unsupported key type {type(key).__name__} (ECDSA or Ed25519)")


def load_private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        raise KeyFileError(
            f"{path} is encrypted: give its passphrase (--passphrase-file or "
            "OPENWARD_KEY_PASSPHRASE)"
            if passphrase is None
            else f"{path} is not encrypted"
        ) from None
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a usable PEM private key ({exc})") from None
    _check(key, path)
    return key  # type: ignore[return-value]


def load_public_key(path: Path) -> PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    _check(key, path)
    return key  # type: ignore[return-value]


def ec_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    """The digest Sigstore pairs with each curve (as model-signing does)."""
    size = key.curve.key_size
    return hashes.SHA256() if size == 256 else hashes.SHA384() if size == 384 else hashes.SHA512()


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(ec_hash(key.public_key())))


def verify_bytes(key: PublicKey, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            key.verify(signature, data, ec.ECDSA(ec_hash(key)))
    except InvalidSignature:
        return False
    return True
