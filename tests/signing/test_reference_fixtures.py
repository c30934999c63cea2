"""Signatures made by model-signing itself (v1.0.1, v1.1.0; key, certificate and Sigstore
keyless), from the model-transparency repository: openward verifies each, offline, and
names the tampering when a signed file changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openward.cli.main import app

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures" / "model_transparency"
KEYS = FIXTURES / "keys"
IDENTITY = [
    "--identity",
    "stefanb@us.ibm.com",
    "--issuer",
    "https://sigstore.verify.ibm.com/oauth2",
]
METHODS = {
    "elliptic-key": ["-k", str(KEYS / "signing-key-pub.pem")],
    "certificate": ["--certificate-chain", str(KEYS / "ca-cert.pem")],
    "sigstore": IDENTITY,
}
CASES = [(v, m) for v in ("v1.0.1", "v1.1.0") for m in METHODS]


def _verify(model: Path, method: str, *extra: str) -> tuple[int, str]:
    # As model-transparency's own script runs them: ignore-me is left out (v1.1.0 records
    # it in the signature; v1.0.1 does not).
    r = runner.invoke(app, ["verify", str(model), "-s", str(model / "model.sig"),
                            *METHODS[method], "--ignore", "ignore-me", *extra])  # fmt: skip
    return r.exit_code, r.output


@pytest.mark.parametrize(("version", "method"), CASES)
def test_reference_signatures_verify(version: str, method: str) -> None:
    if method == "sigstore":
        pytest.importorskip("sigstore")
    code, out = _verify(FIXTURES / f"{version}-{method}", method)
    assert code == 0, out
    assert "verified: 2 files" in out


@pytest.mark.parametrize(("version", "method"), CASES)
def test_tampered_reference_model_fails(version: str, method: str, tmp_path: Path) -> None:
    if method == "sigstore":
        pytest.importorskip("sigstore")
    model = tmp_path / f"{version}-{method}"
    shutil.copytree(FIXTURES / f"{version}-{method}", model)
    (model / "signme-1").write_bytes((model / "signme-1").read_bytes() + b"!")
    code, out = _verify(model, method)
    assert code == 1
    assert "signme-1: content changed since signing" in out


def test_keyless_identity_must_match() -> None:
    pytest.importorskip("sigstore")
    model = FIXTURES / "v1.1.0-sigstore"
    r = runner.invoke(app, ["verify", str(model), "-s", str(model / "model.sig"), "--identity",
                            "mallory@example.com", "--issuer",
                            "https://sigstore.verify.ibm.com/oauth2"])  # fmt: skip
    assert r.exit_code == 1
    assert "Sigstore verification failed" in r.output
    r = runner.invoke(app, ["verify", str(model), "-s", str(model / "model.sig"), "-k",
                            str(KEYS / "signing-key-pub.pem")])  # fmt: skip
    assert r.exit_code == 2 and "--identity and --issuer" in r.output
