"""Sigstore keyless signatures (Fulcio certificate, Rekor entry) through sigstore-python.

Verification checks the certificate against Fulcio's roots, the transparency-log
inclusion and signed timestamps, and that the certificate was issued to the given
identity by the given OIDC issuer; by default it runs offline against the trust root
embedded in the sigstore package (``online=True`` refreshes it over TUF). Signing
needs a network and an OIDC identity token (ambient in CI, or a browser flow).
sigstore-python is an optional extra: ``pip install 'openward[sigstore]'``.
"""

from __future__ import annotations

from openward.errors import OpenwardError

__all__ = ["sign_keyless", "verify_keyless"]


def _require() -> None:
    try:
        import sigstore  # noqa: F401
    except ImportError:
        raise OpenwardError(
            "Sigstore keyless signatures need sigstore-python: pip install 'openward[sigstore]'"
        ) from None


def verify_keyless(raw: bytes, identity: str, issuer: str, *, online: bool = False) -> str | None:
    """None when the bundle verifies for ``identity``/``issuer``; otherwise why not."""
    _require()
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError
    from sigstore.models import Bundle, InvalidBundle
    from sigstore.verify import Verifier, policy

    try:
        bundle = Bundle.from_json(raw)
    except (InvalidBundle, ValueError) as exc:
        return f"not a valid Sigstore bundle ({exc})"
    try:
        verifier = Verifier.production(offline=not online)
        verifier.verify_dsse(bundle, policy.Identity(identity=identity, issuer=issuer))
    except VerificationError as exc:
        return f"Sigstore verification failed: {exc}"
    except SigstoreError as exc:
        raise OpenwardError(f"Sigstore: {exc}") from None
    return None


def sign_keyless(payload: bytes, *, identity_token: str | None = None) -> dict[str, object]:
    """Sign an in-toto statement with a short-lived Fulcio certificate (needs a network)."""
    _require()
    import json

    from sigstore.dsse import Statement
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken, Issuer, detect_credential
    from sigstore.sign import SigningContext

    try:
        token = identity_token or detect_credential()
        config = ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        if token:
            oidc = IdentityToken(token)
        else:  # an interactive browser flow against Sigstore's public OIDC issuer
            oidc = Issuer("https://oauth2.sigstore.dev/auth").identity_token()
        with context.signer(oidc) as signer:
            bundle = signer.sign_dsse(Statement(payload))
    except SigstoreError as exc:
        raise OpenwardError(f"Sigstore signing failed: {exc}") from None
    except OSError as exc:
        raise OpenwardError(f"Sigstore signing needs a network: {exc}") from None
    doc: dict[str, object] = json.loads(bundle.to_json())
    return doc
