"""The certificate method: a signing key certified by an X.509 chain to a trusted root.

The bundle carries the leaf certificate and its intermediates
(``verificationMaterial.x509CertificateChain``, leaf first), as model-signing
writes it. Verification builds the path from the leaf to one of the given
trust roots with ``cryptography``'s own signature checks
(``verify_directly_issued_by``), and requires:

- every certificate valid at the signing time: the bundle's signed timestamp
  when it has one, otherwise the time of verification (model-signing checks at
  the leaf's start date, which never rejects an expired certificate; the OMS
  and Sigstore rule is validity at signing time, and without a trusted
  timestamp the only time openward can vouch for is now);
- issuers to be CAs (basicConstraints cA, keyCertSign when keyUsage is present);
- the leaf to be usable for signatures: keyUsage digitalSignature, or
  extendedKeyUsage codeSigning.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from openward.errors import OpenwardError
from openward.signing.keys import PublicKey

__all__ = ["CertificateError", "chain_material", "load_certificates", "verify_chain"]

MAX_CHAIN = 8


class CertificateError(OpenwardError):
    """A certificate is unreadable, or the chain does not lead to a trusted root."""


def load_certificates(paths: list[Path]) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for path in paths:
        try:
            out += x509.load_pem_x509_certificates(path.read_bytes())
        except OSError as exc:
            raise CertificateError(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise CertificateError(f"{path}: not PEM certificates ({exc})") from None
    return out


def chain_material(leaf: x509.Certificate, chain: list[x509.Certificate]) -> dict[str, object]:
    import base64

    certs = [leaf, *chain]
    return {
        "x509CertificateChain": {
            "certificates": [
                {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()}
                for c in certs
            ]
        },
        "tlogEntries": [],
    }


def _valid_at(cert: x509.Certificate, when: datetime, role: str) -> None:
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise CertificateError(
            f"the {role} certificate ({cert.subject.rfc4514_string()}) is valid from "
            f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}, "
            f"not at {when:%Y-%m-%d %H:%M} UTC"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not bc.ca:
        return False
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return bool(ku.key_cert_sign)


def _can_sign(cert: x509.Certificate) -> bool:
    with contextlib.suppress(x509.ExtensionNotFound):
        if cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return True
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CODE_SIGNING in eku


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    from cryptography.exceptions import InvalidSignature

    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(
    leaf_der: bytes,
    chain_der: list[bytes],
    roots: list[x509.Certificate],
    *,
    at: datetime | None = None,
) -> PublicKey:
    """The leaf's public key, once its chain to one of ``roots`` checks out."""
    when = at or datetime.now(UTC)
    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
        pool = [x509.load_der_x509_certificate(d) for d in chain_der]
    except ValueError as exc:
        raise CertificateError(f"a certificate in the bundle is malformed ({exc})") from None
    if not roots:
        raise CertificateError("no trust roots given (--certificate-chain ROOT.pem)")
    _valid_at(leaf, when, "signing")
    if not _can_sign(leaf):
        raise CertificateError(
            "the signing certificate allows neither digitalSignature nor codeSigning"
        )
    root_fps = {r.fingerprint(_sha256()) for r in roots}
    current = leaf
    for _ in range(MAX_CHAIN):
        if current.fingerprint(_sha256()) in root_fps and current is not leaf:
            break
        trusted = next((r for r in roots if _issued_by(current, r)), None)
        if trusted is not None:
            _valid_at(trusted, when, "root")
            break
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            raise CertificateError(
                f"no trusted root or intermediate issued {current.subject.rfc4514_string()} "
                "(the chain does not lead to a given trust root)"
            )
        if not _is_ca(parent):
            raise CertificateError(f"{parent.subject.rfc4514_string()} is not a CA certificate")
        _valid_at(parent, when, "intermediate")
        current = parent
    else:
        raise CertificateError(f"the certificate chain is longer than {MAX_CHAIN}")
    key = leaf.public_key()
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise CertificateError("the signing certificate's key is neither ECDSA nor Ed25519")
    return key


def _sha256() -> hashes.HashAlgorithm:
    return hashes.SHA256()
