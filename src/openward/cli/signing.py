"""``openward sign`` and ``openward verify``: what the commands do once their line is
parsed, without typer, so the console entry point (:mod:`openward.cli.entry`) can run
them straight from a line it parsed itself, its hashing threads already started.
:mod:`openward.cli.main` declares the same commands for typer (help, errors, every
other form of the line) and calls these functions.

Errors print ``openward: error: ...`` on stderr and raise ``SystemExit(2)``; a failed
verification raises ``SystemExit(1)``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cryptography import x509

    from openward.signing.hashrun import HashRun

__all__ = ["fail", "read_passphrase", "sign_command", "verify_command", "write_output"]

EXIT_USAGE: Final = 2
CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Characters never echoed from paths, names or files a user or a file supplied."""


def _echo(message: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(message + "\n")
    stream.flush()


def fail(message: str) -> SystemExit:
    """Print ``openward: error: MESSAGE`` (escape sequences replaced) and return the
    exit to raise."""
    _echo(f"openward: error: {CONTROL.sub(chr(0xFFFD), message)}", err=True)
    return SystemExit(EXIT_USAGE)


def write_output(text: str, output: Path | None) -> None:
    """``text`` to ``output`` (written whole, then renamed into place), or stdout.
    Raises OSError when ``output`` cannot be written (a directory: ``.``, ``/``);
    no temporary file is left behind."""
    if output is not None:
        if not output.name or output.is_dir():  # ".", "/": with_name would raise ValueError
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), str(output))
        tmp = output.with_name(output.name + ".tmp")
        try:
            tmp.write_text(text + "\n", encoding="utf-8")
            tmp.replace(output)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
    else:
        sys.stdout.write(text + "\n")


def read_passphrase(passphrase_file: Path | None) -> bytes | None:
    """A private key's passphrase: from ``passphrase_file``, else
    ``OPENWARD_KEY_PASSPHRASE``, else none."""
    if passphrase_file is not None:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise fail(f"cannot read {passphrase_file}: {exc.strerror}") from None
    env = os.environ.get("OPENWARD_KEY_PASSPHRASE")
    return env.encode() if env else None


def hash_progress(total: int) -> tuple[object, object]:
    """A hashing bar on stderr (when it is a terminal and ``CI`` is unset) and the
    callback that advances it."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    show = sys.stderr.isatty() and not os.environ.get("CI")
    progress = Progress(
        TextColumn("[bold]hashing"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=Console(stderr=True), transient=True, disable=not show,
    )  # fmt: skip
    task = progress.add_task("", total=total or None)
    return progress, lambda name, size: progress.update(task, advance=size)


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def model_progress(model: Path) -> tuple[object, object]:
    """The hashing bar of sign/verify on a terminal; elsewhere nothing: neither rich
    nor a walk of the model just to size a bar no one sees."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        import contextlib

        return contextlib.nullcontext(), None
    return hash_progress(tree_size(model) if model.exists() else 0)


def sign_command(
    model: Path,
    key: Path | None,
    signature: Path,
    ignore: list[str] | None,
    allow_symlinks: bool,
    passphrase_file: Path | None,
    certificate: Path | None,
    certificate_chain: list[Path] | None,
    sigstore: bool,
    identity_token: str | None,
    early: HashRun | None = None,
) -> None:
    """``openward sign`` (see its help in :mod:`openward.cli.main`). ``early``: the
    model's hashing the entry point started, used when it hashes exactly the files
    signing walks, else cancelled (the entry point cancels it whatever happens here)."""
    from openward.errors import OpenwardError
    from openward.signing.oms import sign_model, start_signing

    if sigstore:
        from openward.signing.oms import sign_model_keyless

        if early is not None:
            early.cancel()

        try:
            progress, advance = model_progress(model)
            with progress:  # type: ignore[attr-defined]
                bundle = sign_model_keyless(
                    model, identity_token=identity_token, signature_path=signature,
                    ignore_paths=ignore or (), allow_symlinks=allow_symlinks,
                    progress=advance,  # type: ignore[arg-type]
                )  # fmt: skip
            write_output(json.dumps(bundle, indent=2), signature)
        except (OpenwardError, OSError) as exc:
            raise fail(str(exc)) from None
        _echo(f"signed {model} -> {signature} (Sigstore keyless)", err=True)
        return
    if key is None:
        raise fail("give a private key with --key, or sign keyless with --sigstore")
    pending = None
    try:
        # walk the model and start hashing first: the key and cryptography load while
        # the hashing threads run (sign_model cancels them if signing fails)
        pending = start_signing(model, signature_path=signature, ignore_paths=ignore or (),
                                allow_symlinks=allow_symlinks, early=early)  # fmt: skip
        from openward.signing.keys import load_private_key

        private = load_private_key(key, read_passphrase(passphrase_file))
        leaf, chain = None, []
        if certificate is not None:
            from openward.signing.certificates import load_certificates

            leaf = load_certificates([certificate])[0]
            chain = load_certificates(certificate_chain or [])
        elif certificate_chain:
            raise fail("--certificate-chain needs --certificate")
        progress, advance = model_progress(model)
        with progress:  # type: ignore[attr-defined]
            bundle = sign_model(
                model, private, signature_path=signature, ignore_paths=ignore or (),
                allow_symlinks=allow_symlinks, progress=advance,  # type: ignore[arg-type]
                certificate=leaf, chain=chain, pending=pending,
            )  # fmt: skip
        write_output(json.dumps(bundle, indent=2), signature)
    except (OpenwardError, OSError) as exc:
        raise fail(str(exc)) from None
    finally:
        if pending is not None:
            pending.cancel()
    _echo(f"signed {model} -> {signature}", err=True)


def verify_command(
    model: Path,
    signature: Path,
    key: Path | None,
    policy: Path | None,
    attestation: list[Path] | None,
    certificate_chain: list[Path] | None,
    identity: str | None,
    issuer: str | None,
    sigstore_online: bool,
    ignore: list[str] | None,
    json_out: bool,
    early: HashRun | None = None,
) -> None:
    """``openward verify`` (see its help in :mod:`openward.cli.main`); raises
    ``SystemExit(1)`` when verification or the policy fails. ``early``: as for
    :func:`sign_command`, used when it hashes exactly the files the signature lists."""
    from openward.errors import OpenwardError
    from openward.signing.oms import PendingVerify, VerifyResult, start_verify, verify_model

    if key is None and policy is None and not certificate_chain and identity is None:
        raise fail(
            "give the signer's public key with --key, trust roots with --certificate-chain, "
            "or a --policy naming the keys"
        )
    pending: PendingVerify | None = None
    try:
        # read the signature and start hashing the files it lists first: the keys,
        # the policy and cryptography load while the hashing threads run
        pending = start_verify(model, signature, ignore_paths=ignore or (), early=early)
        from openward.signing.keys import PublicKey, key_hint, load_public_key

        pol = None
        if policy is not None:
            from openward.signing.attest import load_verification_policy

            pol = load_verification_policy(policy)
        key_files = (
            [key] if key is not None else [Path(p) for p in pol.signature_keys] if pol else []
        )
        publics: dict[str, PublicKey | None] = {
            str(k): load_public_key(Path(k)) for k in key_files
        } or {"certificate": None}
        hint = pending.bundle.key_hint
        ordered = sorted(  # the key the bundle names first: its hashing is under way
            publics.values(), key=lambda k: k is None or hint is None or key_hint(k) != hint
        )
        roots: list[x509.Certificate] = []
        if certificate_chain:
            from openward.signing.certificates import load_certificates

            roots = load_certificates(certificate_chain)
        progress, advance = model_progress(model)
        result: VerifyResult | None = None
        with progress:  # type: ignore[attr-defined]
            for public in ordered:
                result = verify_model(
                    model, signature, public, roots=roots, identity=identity, issuer=issuer,
                    online=sigstore_online, ignore_paths=ignore or (),
                    progress=advance,  # type: ignore[arg-type]
                    pending=pending,
                )  # fmt: skip
                pending = None  # verify_model used it up; another key starts afresh
                if result.ok or not any(p.kind == "wrong-key" for p in result.problems):
                    break
        assert result is not None
        failures: list[str] = []
        if pol is not None and result.ok:
            from openward.signing.attest import check_policy

            all_keys = {k: v for k, v in publics.items() if v is not None}
            for req in pol.attestations:
                for k in req.keys or []:
                    all_keys.setdefault(k, load_public_key(Path(k)))
            failures = check_policy(pol, result.digest, attestation or [], all_keys)
    except (OpenwardError, OSError) as exc:
        raise fail(str(exc)) from None
    finally:
        if pending is not None:
            pending.cancel()
    ok = result.ok and not failures
    if json_out:
        doc = {
            "verified": ok,
            "signature_verified": result.ok,
            "subject": result.subject,
            "digest": result.digest,
            "files": result.files,
            "problems": [
                {"kind": p.kind, "path": p.path, "message": p.message} for p in result.problems
            ],
            "policy_failures": failures,
        }
        _echo(json.dumps(doc, indent=2))
    elif ok:
        signer = (
            "a certificate chaining to the given roots" if result.signer == "certificate"
            else f"{identity} (Sigstore, {issuer})" if result.signer.startswith("sigstore:")
            else key if key is not None else "a key of the policy"
        )  # fmt: skip
        _echo(f"verified: {result.files} files of {model} are exactly what {signer} signed")
        if pol is not None:
            _echo(f"policy {policy}: every requirement met")
    else:
        _echo(f"verification FAILED for {model}:", err=True)
        for line in result.lines():
            _echo(f"  {line}", err=True)
        for line in failures:  # they quote attestation files: no control characters
            _echo(f"  policy: {CONTROL.sub(chr(0xFFFD), line)}", err=True)
    if not ok:
        raise SystemExit(1)
