"""The certificate method: chains to a trusted root, expiry at signing time, interop."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from openward.cli.main import app
from tests.signing.test_sign_verify import _model, _model_signing

runner = CliRunner()
BIN = Path(sys.executable).parent


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    days: tuple[int, int] = (-1, 365),
    signing: bool = True,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=signing and not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Root CA", root_key, None, ca=True, days=(-10, 3650))
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _cert("Intermediate", inter_key, (root, root_key), ca=True, days=(-5, 1000))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert("Publisher", leaf_key, (inter, inter_key), ca=False)
    expired = _cert("Old", leaf_key, (inter, inter_key), ca=False, days=(-30, -1))
    other_root_key = ec.generate_private_key(ec.SECP256R1())
    other_root = _cert("Other CA", other_root_key, None, ca=True)
    key_path = tmp_path / "leaf.pem"
    key_path.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "key": key_path,
        "leaf": _pem(tmp_path / "leaf.crt", leaf),
        "expired": _pem(tmp_path / "expired.crt", expired),
        "chain": _pem(tmp_path / "chain.crt", inter),
        "root": _pem(tmp_path / "root.crt", root),
        "other_root": _pem(tmp_path / "other.crt", other_root),
    }


def _sign(model: Path, pki: dict[str, Path], sig: Path, leaf: str = "leaf") -> None:
    r = runner.invoke(app, ["sign", str(model), "-k", str(pki["key"]), "-o", str(sig),
                            "--certificate", str(pki[leaf]), "--certificate-chain",
                            str(pki["chain"])])  # fmt: skip
    assert r.exit_code == 0, r.output


def _verify(model: Path, sig: Path, root: Path) -> tuple[int, str]:
    r = runner.invoke(app, ["verify", str(model), "-s", str(sig), "--certificate-chain",
                            str(root)])  # fmt: skip
    return r.exit_code, r.output


def test_certificate_round_trip_and_untrusted_root(tmp_path: Path, pki: dict[str, Path]) -> None:
    model = _model(tmp_path / "m")
    sig = tmp_path / "cert.sig"
    _sign(model, pki, sig)
    code, out = _verify(model, sig, pki["root"])
    assert code == 0, out
    assert "certificate chaining to the given roots" in out
    code, out = _verify(model, sig, pki["other_root"])
    assert code == 2 and "does not lead to a given trust root" in out
    (model / "config.json").write_text("{}")
    code, out = _verify(model, sig, pki["root"])
    assert code == 1 and "config.json: content changed" in out


def test_expired_certificate_is_refused(tmp_path: Path, pki: dict[str, Path]) -> None:
    model = _model(tmp_path / "m")
    sig = tmp_path / "cert.sig"
    _sign(model, pki, sig, leaf="expired")
    code, out = _verify(model, sig, pki["root"])
    assert code == 2 and "is valid from" in out


def test_model_signing_certificate_interop_both_ways(tmp_path: Path, pki: dict[str, Path]) -> None:
    exe = _model_signing()
    model = _model(tmp_path / "m")
    ours, theirs = tmp_path / "ours.sig", tmp_path / "theirs.sig"
    _sign(model, pki, ours)
    proc = subprocess.run(
        [
            str(exe),
            "verify",
            "certificate",
            str(model),
            "--signature",
            str(ours),
            "--certificate_chain",
            str(pki["root"]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(
        [
            str(exe),
            "sign",
            "certificate",
            str(model),
            "--signature",
            str(theirs),
            "--private_key",
            str(pki["key"]),
            "--signing_certificate",
            str(pki["leaf"]),
            "--certificate_chain",
            str(pki["chain"]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code, out = _verify(model, theirs, pki["root"])
    assert code == 0, out
