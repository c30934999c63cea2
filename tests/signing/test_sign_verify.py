"""Sign and verify: round trips, every kind of tampering named exactly, wrong keys,
mangled bundles, and interoperability with model-signing's own CLI both ways."""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.errors import OpenwardError
from openward.signing.keys import generate_key, load_private_key, write_key_pair
from openward.signing.oms import sign_model, verify_model

runner = CliRunner()
BIN = Path(sys.executable).parent


def _model(root: Path) -> Path:
    """A real-looking model directory: safetensors shards, configs, tokenizer, a subfolder."""
    from openward._samples import _safetensors_bytes

    rng = random.Random(0)
    root.mkdir(parents=True)
    for i in (1, 2, 3):
        tensors = {f"layers.{i}.w": ("F32", [64, 64], rng.randbytes(64 * 64 * 4))}
        (root / f"model-0000{i}-of-00003.safetensors").write_bytes(_safetensors_bytes(tensors))
    (root / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    (root / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (root / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0}}}))
    (root / "tokenizer_config.json").write_text("{}")
    (root / "onnx").mkdir()
    (root / "onnx" / "model.onnx").write_bytes(rng.randbytes(5000))
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    write_key_pair(generate_key(), private, public)
    return private, public


def _sign(model: Path, private: Path, sig: Path) -> None:
    result = runner.invoke(app, ["sign", str(model), "-k", str(private), "-o", str(sig)])
    assert result.exit_code == 0, result.output


def _verify(model: Path, public: Path, sig: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", str(model), "-s", str(sig), "-k", str(public)])
    return result.exit_code, result.output


def test_round_trip_and_key_file_modes(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    model = _model(tmp_path / "m")
    sig = tmp_path / "model.sig"
    _sign(model, private, sig)
    code, out = _verify(model, public, sig)
    assert code == 0, out
    assert "verified: 8 files" in out
    payload = json.loads(base64.b64decode(json.loads(sig.read_text())["dsseEnvelope"]["payload"]))
    names = [r["name"] for r in payload["predicate"]["resources"]]
    assert names == sorted(names) and "onnx/model.onnx" in names
    assert not any(n.startswith(".git") for n in names)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("flip", "config.json: content changed since signing"),
        ("delete", "tokenizer.json: missing (signed, not present)"),
        ("add", "extra.bin: not in the signature (added)"),
        ("rename", "onnx/renamed.onnx: not in the signature (added)"),
        ("symlink", "escape.bin: a symbolic link out of the model directory"),
    ],
)
def test_each_tampering_is_named(
    tmp_path: Path, keys: tuple[Path, Path], tamper: str, expected: str
) -> None:
    private, public = keys
    model = _model(tmp_path / "m")
    sig = tmp_path / "model.sig"
    _sign(model, private, sig)
    if tamper == "flip":
        data = bytearray((model / "config.json").read_bytes())
        data[3] ^= 1
        (model / "config.json").write_bytes(bytes(data))
    elif tamper == "delete":
        (model / "tokenizer.json").unlink()
    elif tamper == "add":
        (model / "extra.bin").write_bytes(b"x")
    elif tamper == "rename":
        (model / "onnx" / "model.onnx").rename(model / "onnx" / "renamed.onnx")
    else:
        outside = tmp_path / "outside.bin"
        outside.write_bytes(b"secret")
        (model / "escape.bin").symlink_to(outside)
    code, out = _verify(model, public, sig)
    assert code == 1
    assert expected in out
    if tamper == "rename":
        assert "onnx/model.onnx: missing (signed, not present)" in out
    assert "Traceback" not in out


def test_wrong_key_and_forged_statement(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    model = _model(tmp_path / "m")
    sig = tmp_path / "model.sig"
    _sign(model, private, sig)
    other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub"
    write_key_pair(generate_key(), other_private, other_public)
    code, out = _verify(model, other_public, sig)
    assert code == 1 and "signed by a different key" in out
    # Swap in a statement for other bytes, keeping the signature: caught by the signature.
    bundle = json.loads(sig.read_text())
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "00" * 32
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    sig.write_text(json.dumps(bundle))
    code, out = _verify(model, public, sig)
    assert code == 1 and "does not match the signed statement" in out


def test_mangled_bundles_are_clear_errors(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    model = _model(tmp_path / "m")
    sig = tmp_path / "model.sig"
    _sign(model, private, sig)
    good = sig.read_bytes()
    rng = random.Random(1)
    outcomes = set()
    for i in range(300):
        data = bytearray(good)
        kind = i % 3
        if kind == 0:
            data = data[: rng.randrange(len(data))]
        elif kind == 1:
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(32, 127)
        else:
            doc = json.loads(good)
            victim = rng.choice(["mediaType", "verificationMaterial", "dsseEnvelope"])
            doc[victim] = rng.choice([None, 3, "x", [], {}])
            data = bytearray(json.dumps(doc).encode())
        sig.write_bytes(bytes(data))
        result = runner.invoke(app, ["verify", str(model), "-s", str(sig), "-k", str(public)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        if result.exit_code == 0:
            # Only bytes that are not signed changed (e.g. the unused keyid).
            before, after = json.loads(good), json.loads(bytes(data))
            for part in ("payload", "signatures"):
                a, b = before["dsseEnvelope"][part], after["dsseEnvelope"][part]
                assert (a if part == "payload" else a[0]["sig"]) == (
                    b if part == "payload" else b[0]["sig"]
                )
        outcomes.add(result.exit_code)
    assert {1, 2} <= outcomes


def test_encrypted_key_needs_its_passphrase(tmp_path: Path) -> None:
    private, public = tmp_path / "e.pem", tmp_path / "e.pub"
    write_key_pair(generate_key("ecdsa-p384"), private, public, passphrase=b"s3cret")
    with pytest.raises(OpenwardError, match="encrypted"):
        load_private_key(private)
    key = load_private_key(private, b"s3cret")
    model = _model(tmp_path / "m")
    bundle = sign_model(model, key)
    sig = tmp_path / "s.json"
    sig.write_text(json.dumps(bundle))
    from openward.signing.keys import load_public_key

    assert verify_model(model, sig, load_public_key(public)).ok
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    result = runner.invoke(app, ["sign", str(model), "-k", str(private), "-o", str(sig)])
    assert result.exit_code == 2 and "passphrase" in result.output
    result = runner.invoke(
        app, ["sign", str(model), "-k", str(private), "-o", str(sig), "--passphrase-file", str(pw)]
    )
    assert result.exit_code == 0, result.output
    with pytest.raises(OpenwardError, match="refusing to overwrite"):
        write_key_pair(generate_key(), private, public)


def test_signature_inside_the_model_is_ignored(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    private, public = keys
    model = _model(tmp_path / "m")
    sig = model / "model.sig"
    _sign(model, private, sig)
    code, out = _verify(model, public, sig)
    assert code == 0, out


def test_ed25519_round_trip(tmp_path: Path) -> None:
    private, public = tmp_path / "ed.pem", tmp_path / "ed.pub"
    write_key_pair(generate_key("ed25519"), private, public)
    model = _model(tmp_path / "m")
    sig = tmp_path / "s.sig"
    _sign(model, private, sig)
    assert _verify(model, public, sig)[0] == 0


def _model_signing() -> Path:
    exe = BIN / "model_signing"
    if not exe.exists():
        if os.environ.get("CI"):
            pytest.fail("model-signing is a test dependency and must be installed under CI")
        pytest.skip("model-signing not installed (pip install '.[test]')")
    return exe


def test_model_signing_verifies_openward_signatures(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    exe = _model_signing()
    private, public = keys
    model = _model(tmp_path / "m")
    sig = tmp_path / "model.sig"
    _sign(model, private, sig)
    proc = subprocess.run(
        [str(exe), "verify", "key", str(model), "--signature", str(sig), "--public_key",
         str(public)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Verification succeeded" in proc.stdout + proc.stderr
    (model / "config.json").write_text("{}")
    proc = subprocess.run(
        [str(exe), "verify", "key", str(model), "--signature", str(sig), "--public_key",
         str(public)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode != 0


def test_openward_verifies_model_signing_signatures(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    exe = _model_signing()
    private, public = keys
    model = _model(tmp_path / "m")
    sig = tmp_path / "ms.sig"
    proc = subprocess.run(
        [str(exe), "sign", "key", str(model), "--private_key", str(private), "--signature",
         str(sig)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code, out = _verify(model, public, sig)
    assert code == 0, out
    shutil.rmtree(model / "onnx")
    code, out = _verify(model, public, sig)
    assert code == 1 and "onnx/model.onnx: missing" in out


def test_validly_signed_but_malformed_statements(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    """A key holder can sign anything: the statement is parsed strictly too."""
    from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, make_bundle, pae
    from openward.signing.keys import key_hint, load_public_key, sign_bytes

    private, public = keys
    key = load_private_key(private)
    model = _model(tmp_path / "m")
    good = json.loads(base64.b64decode(sign_model(model, key)["dsseEnvelope"]["payload"]))  # type: ignore[index]
    rng = random.Random(2)
    sig = tmp_path / "s.sig"
    paths = [("subject",), ("predicate",), ("predicate", "resources"),
             ("predicate", "serialization"), ("predicate", "serialization", "ignore_paths"),
             ("_type",), ("predicateType",)]  # fmt: skip
    for _ in range(120):
        doc = json.loads(json.dumps(good))
        where = rng.choice(paths)
        target = doc
        for part in where[:-1]:
            target = target[part]
        target[where[-1]] = rng.choice([None, 1, "x", [], {}, [{}], [{"name": 1, "digest": "zz"}]])
        payload = json.dumps(doc).encode()
        bundle = make_bundle(payload, sign_bytes(key, pae(INTOTO_PAYLOAD_TYPE, payload)),
                             key_hint(load_public_key(public)))  # fmt: skip
        sig.write_text(json.dumps(bundle))
        result = runner.invoke(app, ["verify", str(model), "-s", str(sig), "-k", str(public)])
        assert result.exit_code in (1, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
