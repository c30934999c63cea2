"""OMS signatures: an in-toto statement in a DSSE envelope in a Sigstore bundle (v0.3).

The statement's subject is the model (its name and the model digest); the
predicate (``https://model_signing/signature/v1.0``) records how the model was
serialized and lists every file with its SHA-256. Key-based bundles carry a
public-key hint and no transparency-log entry, exactly as model-signing
writes them; reading is strict (types, sizes, base64) so a truncated or
mutated bundle is a clear error, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from openward.errors import OpenwardError
from openward.signing.manifest import FileDigest, Manifest

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "OMS_PREDICATE",
    "BundleError",
    "ParsedBundle",
    "Statement",
    "make_bundle",
    "make_statement",
    "pae",
    "parse_bundle",
    "parse_statement",
]

BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
_MEDIA_TYPES: Final = frozenset(
    {
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
    }
)
INTOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
OMS_PREDICATE: Final = "https://model_signing/signature/v1.0"
MAX_BUNDLE: Final = 256 << 20


class BundleError(OpenwardError):
    """The signature file is not a well-formed OMS bundle."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding (DSSEv1)."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def make_statement(
    manifest: Manifest, name: str, predicate_type: str = OMS_PREDICATE
) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": manifest.digest}}],
        "predicateType": predicate_type,
        "predicate": {
            "serialization": {
                "method": "files",
                "allow_symlinks": manifest.allow_symlinks,
                "hash_type": "sha256",
                "ignore_paths": list(manifest.ignore_paths),
            },
            "resources": [
                {"digest": f.digest, "name": f.name, "algorithm": "sha256"} for f in manifest.files
            ],
        },
    }


def make_bundle(
    payload: bytes,
    signature: bytes,
    hint: str | None,
    material: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A bundle with a key hint, or with the given verification material (certificates)."""
    if material is None:
        material = {"tlogEntries": []}
        if hint is not None:
            material["publicKey"] = {"hint": hint}
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": INTOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }


@dataclass
class ParsedBundle:
    media_type: str
    payload: bytes
    payload_type: str
    signature: bytes
    key_hint: str | None
    certificate: bytes | None
    """DER of the leaf certificate, for certificate-method bundles."""
    chain: list[bytes]
    raw: dict[str, Any]


@dataclass
class Statement:
    subject_name: str
    subject_digest: str
    predicate_type: str
    method: str
    hash_type: str
    allow_symlinks: bool
    ignore_paths: list[str]
    files: list[FileDigest]
    predicate: dict[str, Any]


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{where} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{where} is not valid base64") from None


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{where} is missing or not an object")
    return value


def parse_bundle(text: bytes) -> ParsedBundle:
    if len(text) > MAX_BUNDLE:
        raise BundleError("the signature file is larger than 256 MiB")
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"the signature file is not JSON ({exc})") from None
    raw = _obj(raw, "the bundle")
    media = raw.get("mediaType")
    if not isinstance(media, str) or media not in _MEDIA_TYPES:
        raise BundleError(f"unsupported bundle media type {media!r}")
    material = _obj(raw.get("verificationMaterial"), "verificationMaterial")
    envelope = _obj(raw.get("dsseEnvelope"), "dsseEnvelope (OMS signs a DSSE envelope)")
    payload_type = envelope.get("payloadType")
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise BundleError(f"unexpected DSSE payload type {payload_type!r}")
    payload = _b64(envelope.get("payload"), "dsseEnvelope.payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        raise BundleError("dsseEnvelope.signatures must hold exactly one signature")
    signature = _b64(_obj(signatures[0], "the signature").get("sig"), "the signature")
    hint = None
    certificate = None
    chain: list[bytes] = []
    if "publicKey" in material:
        hint_v = _obj(material["publicKey"], "verificationMaterial.publicKey").get("hint")
        if hint_v is not None and not isinstance(hint_v, str):
            raise BundleError("verificationMaterial.publicKey.hint is not a string")
        hint = hint_v or None
    elif "certificate" in material:
        certificate = _b64(
            _obj(material["certificate"], "certificate").get("rawBytes"), "certificate.rawBytes"
        )
    elif "x509CertificateChain" in material:
        certs = _obj(material["x509CertificateChain"], "x509CertificateChain").get("certificates")
        if not isinstance(certs, list) or not certs:
            raise BundleError("x509CertificateChain.certificates is empty")
        chain = [
            _b64(_obj(c, "certificate").get("rawBytes"), "certificate.rawBytes") for c in certs
        ]
        certificate = chain[0]
        chain = chain[1:]
    else:
        raise BundleError("verificationMaterial names neither a public key nor a certificate")
    return ParsedBundle(media, payload, payload_type, signature, hint, certificate, chain, raw)


def parse_statement(payload: bytes) -> Statement:
    try:
        doc = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"the signed payload is not JSON ({exc})") from None
    doc = _obj(doc, "the statement")
    if not isinstance(doc.get("_type"), str) or doc["_type"] not in (
        STATEMENT_TYPE,
        "https://in-toto.io/Statement/v0.1",
    ):
        raise BundleError(f"not an in-toto statement (_type {doc.get('_type')!r})")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise BundleError("the statement must have exactly one subject")
    subject = _obj(subjects[0], "subject")
    digest = _obj(subject.get("digest"), "subject.digest").get("sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise BundleError("subject.digest.sha256 is missing or malformed")
    predicate = _obj(doc.get("predicate"), "predicate")
    serialization = _obj(predicate.get("serialization"), "predicate.serialization")
    method = serialization.get("method")
    hash_type = serialization.get("hash_type")
    resources = predicate.get("resources")
    if not isinstance(resources, list):
        raise BundleError("predicate.resources is not a list")
    files = []
    for i, r in enumerate(resources):
        r = _obj(r, f"resources[{i}]")
        name, value = r.get("name"), r.get("digest")
        if not isinstance(name, str) or not isinstance(value, str):
            raise BundleError(f"resources[{i}] lacks a name or digest")
        try:
            bytes.fromhex(value)
        except ValueError:
            raise BundleError(f"resources[{i}].digest is not hex") from None
        files.append(FileDigest(name, value.lower(), -1))
    ignore = serialization.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise BundleError("serialization.ignore_paths is not a list of strings")
    return Statement(
        subject_name=str(subject.get("name", "")),
        subject_digest=digest.lower(),
        predicate_type=str(doc.get("predicateType")),
        method=str(method),
        hash_type=str(hash_type),
        allow_symlinks=bool(serialization.get("allow_symlinks", False)),
        ignore_paths=ignore,
        files=files,
        predicate=predicate,
    )
