"""Sign a model and verify a signature, in the OpenSSF Model Signing format."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
from openward.signing.hashrun import adopt_or_start, signature_ignore
from openward.signing.manifest import (
    FileDigest,
    HashRun,
    ManifestError,
    PendingManifest,
    _ignored,
    build_manifest,
    model_digest,
    start_manifest,
)

if TYPE_CHECKING:
    # cryptography costs 20-30 ms of start-up (x509 20 more): imported where a key is
    # used, so the CLI can start hashing first and load the key while the threads run
    from cryptography import x509

    from openward.signing.bundle import ParsedBundle, Statement
    from openward.signing.keys import PrivateKey, PublicKey

__all__ = [
    "PendingVerify",
    "Problem",
    "VerifyResult",
    "sign_model",
    "start_signing",
    "start_verify",
    "verify_model",
]


def start_signing(
    model: Path,
    *,
    signature_path: Path | None = None,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
    early: HashRun | None = None,
) -> PendingManifest:
    """Walk ``model`` and start hashing it for :func:`sign_model` (``pending=``), so the
    caller can load its key meanwhile. Cancel it if signing does not go ahead.
    ``early``: see :func:`openward.signing.manifest.start_manifest`."""
    ignore = [*ignore_paths, *signature_ignore(model, signature_path)]
    return start_manifest(model, ignore_paths=ignore, allow_symlinks=allow_symlinks,
                          workers=workers, early=early)  # fmt: skip


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
    pending: PendingManifest | None = None,
) -> dict[str, object]:
    """Hash ``model`` and return the signed OMS bundle (a JSON-ready dict).

    With ``certificate`` (the key's certificate) and ``chain`` (its intermediates, up
    to the root) the bundle uses the certificate method instead of a key hint.
    ``pending`` is the model's hashing already started by :func:`start_signing` (with
    the same ``signature_path``, ``ignore_paths`` and ``allow_symlinks``); it is
    cancelled when signing fails.
    """
    from openward.signing.keys import key_hint, sign_bytes

    try:
        if certificate is not None and certificate.public_key() != key.public_key():
            raise OpenwardError("the certificate does not certify this private key")
        if pending is None:
            pending = start_signing(model, signature_path=signature_path,
                                    ignore_paths=ignore_paths, allow_symlinks=allow_symlinks,
                                    workers=workers)  # fmt: skip
        manifest = pending.result(progress)
    finally:
        if pending is not None:
            pending.cancel()
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

    ignore = [*ignore_paths, *signature_ignore(model, signature_path)]
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


class PendingVerify:
    """A signature read and parsed, and, when its statement is a per-file SHA-256
    manifest, the model's files already being hashed (:func:`start_verify`).

    Nothing here is trusted yet: :func:`verify_model` checks the signature first and
    uses the hashes only after it holds. Starting early lets a caller load the public
    key (and cryptography) while the files are read."""

    def __init__(self, model: Path, signature_path: Path, ignore_paths: Iterable[str],
                 workers: int | None, early: HashRun | None = None) -> None:  # fmt: skip
        self.run: HashRun | None = None
        try:
            self._start(model, signature_path, ignore_paths, workers, early)
        finally:
            if early is not None and self.run is not early:
                early.cancel()

    def _start(self, model: Path, signature_path: Path, ignore_paths: Iterable[str],
               workers: int | None, early: HashRun | None) -> None:  # fmt: skip
        try:
            self.raw = signature_path.read_bytes()
        except OSError as exc:
            raise OpenwardError(f"cannot read signature {signature_path}: {exc.strerror}") from None
        self.bundle: ParsedBundle = parse_bundle(self.raw)
        self.statement: Statement | None = None
        self.walk: tuple[list[Problem], list[tuple[str, Path, int]]] | None = None
        try:
            statement = parse_statement(self.bundle.payload)
        except Exception:  # verify_model raises it in its place, after the signature
            return
        self.statement = statement
        if (statement.predicate_type != OMS_PREDICATE or statement.method != "files"
                or statement.hash_type != "sha256"
                or model_digest(statement.files) != statement.subject_digest):  # fmt: skip
            return
        ignore = [*statement.ignore_paths, *ignore_paths,
                  *signature_ignore(model, signature_path)]  # fmt: skip
        listed = {f.name: f for f in statement.files}
        self.walk = _walk_compare(model, listed, ignore, statement.allow_symlinks)
        self.run = adopt_or_start(early, self.walk[1], workers)

    def cancel(self) -> None:
        if self.run is not None:
            self.run.cancel()


def start_verify(
    model: Path, signature_path: Path, *, ignore_paths: Iterable[str] = (),
    workers: int | None = None, early: HashRun | None = None,
) -> PendingVerify:  # fmt: skip
    """Read the signature and start hashing the files it lists, for
    :func:`verify_model` (``pending=``). Cancel it if verification does not go ahead.

    ``early`` is a run started on a walk of the model before this module was
    imported (:mod:`openward.cli.entry`): used when it hashes exactly the listed files
    present, else cancelled."""
    return PendingVerify(model, signature_path, ignore_paths, workers, early)


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
    pending: PendingVerify | None = None,
) -> VerifyResult:
    """Check the bundle's signature with ``key`` (key method), ``roots`` (certificate
    method) or ``identity``/``issuer`` (Sigstore keyless), then every file against the
    manifest.

    Files are compared in the order the signature lists them (never re-sorted), so
    signatures from tools that order paths differently still verify. ``pending`` is
    the work :func:`start_verify` started (same model, signature and ``ignore_paths``);
    it is cancelled when verification stops early.
    """
    if pending is None:
        pending = start_verify(model, signature_path, ignore_paths=ignore_paths,
                               workers=workers)  # fmt: skip
    try:
        return _verify(pending, model, key, roots, identity, issuer, online, progress)
    finally:
        pending.cancel()


def _verify(
    pending: PendingVerify,
    model: Path,
    key: PublicKey | None,
    roots: Sequence[x509.Certificate],
    identity: str | None,
    issuer: str | None,
    online: bool,
    progress: Callable[[str, int], None] | None,
) -> VerifyResult:
    raw, bundle = pending.raw, pending.bundle
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
        from openward.signing.keys import key_hint, verify_bytes

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
    statement = pending.statement or parse_statement(bundle.payload)
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
    assert pending.walk is not None  # started for every statement that gets this far
    listed = {f.name: f for f in statement.files}
    problems, present = _finish_compare(listed, *pending.walk, pending.run, progress)
    result.problems.extend(problems)
    result.files = len(listed)
    result.bytes = sum(present.values())
    result.ok = not result.problems
    return result


def _walk_compare(
    model: Path,
    listed: dict[str, FileDigest],
    ignore: list[str],
    allow_symlinks: bool,
) -> tuple[list[Problem], list[tuple[str, Path, int]]]:
    """The model's files against the signature's list: problems found by walking, and
    the (name, path, size) of each listed file present, to hash."""
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
    return problems, items


def _finish_compare(
    listed: dict[str, FileDigest],
    walk_problems: list[Problem],
    items: list[tuple[str, Path, int]],
    run: HashRun | None,
    progress: Callable[[str, int], None] | None,
) -> tuple[list[Problem], dict[str, int]]:
    problems = list(walk_problems)
    try:
        digests = run.wait(progress) if run is not None else {}
    except ManifestError as exc:
        problems.append(Problem("unreadable", None, str(exc)))
        return problems, {}
    for name, _, _ in items:
        if digests[name] != listed[name].digest:
            problems.append(Problem("changed", name, f"{name}: content changed since signing"))
    order = {name: i for i, name in enumerate(listed)}
    problems.sort(key=lambda p: (order.get(p.path or "", len(order)), p.path or "", p.kind))
    return problems, {name: size for name, _, size in items}
