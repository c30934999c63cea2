"""Sign a model and verify a signature, in the OpenSSF Model Signing format."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from openward.errors import OpenwardError
from openward.signing.bundle import (
    INTOTO_PAYLOAD_TYPE,
    OMS_PREDICATE,
    BundleError,
    make_bundle,
    make_statement,
    pae,
    parse_bundle,
    parse_statement,
)
from openward.signing.keys import PrivateKey, PublicKey, key_hint, sign_bytes, verify_bytes
from openward.signing.manifest import (
    FileDigest,
    ManifestError,
    _ignored,
    build_manifest,
    hash_files,
    model_digest,
)

if TYPE_CHECKING:  # cryptography.x509 costs 20 ms of start-up; only certificates need it
    from cryptography import x509

__all__ = ["Problem", "VerifyResult", "sign_model", "verify_model"]


def _signature_ignore(model: Path, signature: Path | None) -> list[str]:
    if signature is None:
        return []
    try:
        rel = signature.resolve().relative_to(model.resolve())
    except ValueError:
        return []
    return [PurePosixPath(rel).as_posix()]


def sign_model(
    model: Path,
    key: PrivateKey,
    *,
    signature_path: Path | None = None,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    certificate: x509.Certificate | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> dict[str, object]:
    """Hash ``model`` and return the signed OMS bundle (a JSON-ready dict).

    With ``certificate`` (the key's certificate) and ``chain`` (its intermediates, up
    to the root) the bundle uses the certificate method instead of a key hint.
    """
    if certificate is not None and certificate.public_key() != key.public_key():
        raise OpenwardError("the certificate does not certify this private key")
    ignore = [*ignore_paths, *_signature_ignore(model, signature_path)]
    manifest = build_manifest(
        model, ignore_paths=ignore, allow_symlinks=allow_symlinks, workers=workers,
        progress=progress,
    )  # fmt: skip
    name = model.resolve().name
    statement = make_statement(manifest, name)
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signature = sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload))
    if certificate is not None:
        from openward.signing.certificates import chain_material

        return make_bundle(payload, signature, None, chain_material(certificate, list(chain)))
    return make_bundle(payload, signature, key_hint(key.public_key()))


def sign_model_keyless(
    model: Path,
    *,
    identity_token: str | None = None,
    signature_path: Path | None = None,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, object]:
    """Sign with Sigstore keyless (a Fulcio certificate for the OIDC identity, logged in
    Rekor); needs a network and sigstore-python."""
    from openward.signing.keyless import sign_keyless

    ignore = [*ignore_paths, *_signature_ignore(model, signature_path)]
    manifest = build_manifest(
        model, ignore_paths=ignore, allow_symlinks=allow_symlinks, workers=workers,
        progress=progress,
    )  # fmt: skip
    statement = make_statement(manifest, model.resolve().name)
    return sign_keyless(json.dumps(statement).encode(), identity_token=identity_token)


@dataclass(frozen=True)
class Problem:
    kind: str
    """``changed``, ``missing``, ``extra``, ``symlink``, ``unreadable``, ``signature``,
    ``wrong-key``, ``digest``, ``format``."""
    path: str | None
    message: str


@dataclass
class VerifyResult:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    subject: str = ""
    predicate_type: str = ""
    digest: str = ""
    """The model digest the signature covers (valid when ``ok``)."""
    signer: str = "key"
    """``key`` or ``certificate``: how the signer was established."""

    def lines(self) -> list[str]:
        return [p.message for p in self.problems]


def verify_model(
    model: Path,
    signature_path: Path,
    key: PublicKey | None,
    *,
    roots: Sequence[x509.Certificate] = (),
    identity: str | None = None,
    issuer: str | None = None,
    online: bool = False,
    ignore_paths: Iterable[str] = (),
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> VerifyResult:
    """Check the bundle's signature with ``key`` (key method), ``roots`` (certificate
    method) or ``identity``/``issuer`` (Sigstore keyless), then every file against the
    manifest.

    Files are compared in the order the signature lists them (never re-sorted), so
    signatures from tools that order paths differently still verify.
    """
    try:
        raw = signature_path.read_bytes()
    except OSError as exc:
        raise OpenwardError(f"cannot read signature {signature_path}: {exc.strerror}") from None
    bundle = parse_bundle(raw)
    result = VerifyResult(ok=False)
    keyless = "certificate" in bundle.raw.get("verificationMaterial", {})
    if keyless:
        if identity is None or issuer is None:
            raise OpenwardError(
                "a Sigstore (keyless) signature: give the signer's --identity and --issuer"
            )
        from openward.signing.keyless import verify_keyless

        problem = verify_keyless(raw, identity, issuer, online=online)
        if problem is not None:
            result.problems.append(Problem("signature", None, problem))
            return result
        result.signer = f"sigstore:{identity}"
    else:
        if bundle.certificate is not None:
            from openward.signing.certificates import verify_chain

            key = verify_chain(bundle.certificate, bundle.chain, list(roots))
            result.signer = "certificate"
        elif key is None:
            raise OpenwardError("this signature was made with a key: give its public key (--key)")
        if bundle.key_hint is not None and bundle.key_hint != key_hint(key):
            result.problems.append(
                Problem("wrong-key", None, "signed by a different key than the one given "
                        f"(bundle key hint {bundle.key_hint[:16]}…, yours "
                        f"{key_hint(key)[:16]}…)")
            )  # fmt: skip
            return result
        if not verify_bytes(key, bundle.signature, pae(bundle.payload_type, bundle.payload)):
            result.problems.append(
                Problem("signature", None, "the signature does not match the signed statement "
                        "and this key: the bundle was altered or made with another key")
            )  # fmt: skip
            return result
    statement = parse_statement(bundle.payload)
    result.subject = statement.subject_name
    result.predicate_type = statement.predicate_type
    result.digest = statement.subject_digest
    if statement.predicate_type != OMS_PREDICATE:
        raise BundleError(
            f"predicate type {statement.predicate_type!r} is not a model signature "
            f"({OMS_PREDICATE}); attestations are checked with --policy"
        )
    if statement.method != "files" or statement.hash_type != "sha256":
        raise BundleError(
            f"serialization {statement.method}/{statement.hash_type} is not supported "
            "(openward verifies per-file SHA-256 manifests, the mode other OMS verifiers accept)"
        )
    if model_digest(statement.files) != statement.subject_digest:
        result.problems.append(
            Problem("digest", None, "the subject digest does not match the listed files")
        )
        return result
    ignore = [*statement.ignore_paths, *ignore_paths, *_signature_ignore(model, signature_path)]
    listed = {f.name: f for f in statement.files}
    problems, present = _compare(model, listed, ignore, statement.allow_symlinks, workers, progress)
    result.problems.extend(problems)
    result.files = len(listed)
    result.bytes = sum(present.values())
    result.ok = not result.problems
    return result


def _compare(
    model: Path,
    listed: dict[str, FileDigest],
    ignore: list[str],
    allow_symlinks: bool,
    workers: int | None,
    progress: Callable[[str, int], None] | None,
) -> tuple[list[Problem], dict[str, int]]:
    problems: list[Problem] = []
    items: list[tuple[str, Path, int]] = []
    seen: set[str] = set()
    root = model.resolve()

    def visit(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append(Problem("unreadable", prefix or ".", f"cannot list {prefix or '.'}: "
                                    f"{exc.strerror}"))  # fmt: skip
            return
        for entry in entries:
            rel = prefix + entry.name
            if _ignored(rel, ignore):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    problems.append(Problem("symlink", rel, f"{rel}: a symbolic link out of the "
                                            f"model directory (to {target})"))  # fmt: skip
                    seen.add(rel)
                    continue
                if not allow_symlinks:
                    problems.append(Problem("symlink", rel, f"{rel}: a symbolic link, which the "
                                            "signature does not allow"))  # fmt: skip
                    seen.add(rel)
                    continue
                path = target
            if path.is_dir():
                visit(path, rel + "/")
            elif path.is_file():
                seen.add(rel)
                if rel in listed:
                    items.append((rel, path, path.stat().st_size))
                else:
                    problems.append(Problem("extra", rel, f"{rel}: not in the signature (added)"))
            else:
                problems.append(Problem("unreadable", rel, f"{rel}: not a regular file"))

    if model.is_file():
        items = [(model.name, model, model.stat().st_size)] if model.name in listed else []
        seen = {model.name}
        if model.name not in listed:
            problems.append(Problem("extra", model.name, f"{model.name}: not in the signature"))
    else:
        visit(model, "")
    for name in listed:
        if name not in seen:
            problems.append(Problem("missing", name, f"{name}: missing (signed, not present)"))
    try:
        digests = hash_files(items, workers=workers, progress=progress)
    except ManifestError as exc:
        problems.append(Problem("unreadable", None, str(exc)))
        return problems, {}
    for name, _, _ in items:
        if digests[name] != listed[name].digest:
            problems.append(Problem("changed", name, f"{name}: content changed since signing"))
    order = {name: i for i, name in enumerate(listed)}
    problems.sort(key=lambda p: (order.get(p.path or "", len(order)), p.path or "", p.kind))
    return problems, {name: size for name, _, size in items}
