"""The sliced, largest-remaining-first hashing scheduler gives the digests a plain
sequential SHA-256 gives, and model-signing's own library (the OMS reference).

Sizes sit on and around the read buffer and the slice, equal large files take
turns on the threads, and with a tiny slice and one kept-open file per thread
the paused files are closed and reopened at their offset. Nothing is timed.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from openward.signing import hashrun as m
from openward.signing.manifest import ManifestError, build_manifest, hash_files, model_digest


def _tree(root: Path, sizes: dict[str, int]) -> Path:
    rnd = random.Random(18)
    for rel, size in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rnd.randbytes(size))
    return root


def _sequential(root: Path) -> dict[str, str]:
    """The straightforward path: every regular file, read whole, one at a time."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _model_signing(root: Path) -> dict[str, str] | None:
    try:
        from model_signing import hashing
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("model-signing is a test dependency and must be installed under CI")
        return None
    manifest = hashing.Config().use_file_serialization(max_workers=1).hash(root)
    return {d.identifier: d.digest.digest_value.hex() for d in manifest.resource_descriptors()}


def _sizes(buffer: int, slice_: int) -> dict[str, int]:
    return {
        "empty.bin": 0,
        "one.bin": 1,
        "config.json": 700,
        "buf-1.bin": buffer - 1,
        "buf.bin": buffer,
        "buf+1.bin": buffer + 1,
        "sub/slice-1.bin": slice_ - 1,
        "sub/slice.bin": slice_,
        "sub/slice+1.bin": slice_ + 1,
        "sub/deep/two-slices.bin": 2 * slice_,
        "sub/deep/big.bin": 3 * slice_ + buffer // 2 + 7,
        **{f"shards/part-{i}.bin": 2 * slice_ + 3 for i in range(5)},
        **{f"small/{i:03}.txt": 1 + (i * 37) % 300 for i in range(40)},
    }


@pytest.mark.parametrize(
    ("buffer", "slice_", "keep_open"),
    [
        (64 * 1024, 1024 * 1024, 8),  # the shipped proportions, at 1/16 of the size
        (4096, 3 * 4096, 1),  # many slices a file; paused files closed and reopened
        (4096, 4096 + 512, 0),  # a slice not a whole number of buffers; none kept open
    ],
)
@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_scheduler_digests_match_sequential_and_model_signing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    buffer: int,
    slice_: int,
    keep_open: int,
    workers: int,
) -> None:
    root = _tree(tmp_path / "model", _sizes(buffer, slice_))
    monkeypatch.setattr(m, "BUFFER", buffer)
    monkeypatch.setattr(m, "SLICE", slice_)
    monkeypatch.setattr(m, "_OPEN_PER_THREAD", keep_open)
    done: list[tuple[str, int]] = []
    manifest = build_manifest(root, workers=workers, progress=lambda n, s: done.append((n, s)))
    got = {f.name: f.digest for f in manifest.files}
    expected = _sequential(root)
    assert got == expected
    assert [f.name for f in manifest.files] == sorted(expected)
    assert sorted(done) == sorted((f.name, f.size) for f in manifest.files)
    reference = _model_signing(root)
    if reference is not None:
        assert got == reference
    whole = hashlib.sha256(b"".join(bytes.fromhex(expected[k]) for k in sorted(expected)))
    assert manifest.digest == model_digest(manifest.files) == whole.hexdigest()


def test_shipped_sizes_on_a_file_of_several_slices(tmp_path: Path) -> None:
    """The real constants once: a file of two slices and a bit, beside small ones."""
    sizes = {"w.bin": 2 * m.SLICE + m.BUFFER + 1, "a.json": 10, "b.bin": m.BUFFER}
    root = _tree(tmp_path / "model", sizes)
    got = {f.name: f.digest for f in build_manifest(root, workers=2).files}
    assert got == _sequential(root)


def test_unreadable_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "SLICE", 4096)
    root = _tree(tmp_path / "model", {f"f{i}.bin": 5 * 4096 for i in range(6)})
    items = [(p.name, p, p.stat().st_size) for p in sorted(root.iterdir())]
    items.append(("gone.bin", root / "gone.bin", 5 * 4096))
    with pytest.raises(ManifestError, match=r"cannot read gone\.bin"):
        hash_files(items, workers=3)


def test_a_file_replaced_while_paused_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused file reopened for its next slice must be the file it was."""
    monkeypatch.setattr(m, "SLICE", 4096)
    monkeypatch.setattr(m, "BUFFER", 4096)
    monkeypatch.setattr(m, "_OPEN_PER_THREAD", 0)  # every paused file is closed
    root = _tree(tmp_path / "model", {"a.bin": 4 * 4096, "b.bin": 4 * 4096})
    real_step = m._Job.step
    swapped: list[bool] = []

    def step(job: m._Job, buf: bytearray, view: memoryview) -> bool:
        if job.item[0] == "a.bin" and job.pos == 4096 and not swapped:
            swapped.append(True)
            (root / "a.new").write_bytes(bytes(4 * 4096))
            os.replace(root / "a.new", root / "a.bin")
        return real_step(job, buf, view)

    monkeypatch.setattr(m._Job, "step", step)
    items = [(p.name, p, p.stat().st_size) for p in sorted(root.iterdir())]
    with pytest.raises(ManifestError, match=r"a\.bin was replaced while it was being hashed"):
        hash_files(items, workers=1)
    assert swapped


def test_a_file_that_grew_is_hashed_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size listed at walk time is a guide: the digest covers what is read."""
    monkeypatch.setattr(m, "SLICE", 4096)
    monkeypatch.setattr(m, "BUFFER", 1024)
    root = _tree(tmp_path / "model", {"a.bin": 2 * 4096, "b.bin": 4096})
    listed = {p.name: p.stat().st_size for p in root.iterdir()}
    for name in listed:  # by more than one read buffer past the size listed
        with (root / name).open("ab") as f:
            f.write(b"more" * 1000)
    got = hash_files([(n, root / n, size) for n, size in listed.items()], workers=2)
    assert got == _sequential(root)


def test_cpu_count_is_the_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
        assert m.cpu_count() == 3
    monkeypatch.setattr(os, "process_cpu_count", lambda: 6, raising=False)
    assert m.cpu_count() == 6


def _hash_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("openward-hash-")]


def test_started_hashing_is_cancelled_when_signing_or_verifying_stops(tmp_path: Path) -> None:
    """sign and verify start hashing before the key is loaded; a wrong key, a refused
    certificate or a bad signature stops the threads instead of hashing on."""
    from openward.errors import OpenwardError
    from openward.signing.keys import generate_key
    from openward.signing.oms import sign_model, start_signing, start_verify, verify_model

    model = _tree(tmp_path / "model", {"a.bin": 3 << 20, "b.bin": 5 << 20, "c.json": 10})
    key, other = generate_key(), generate_key()
    sig = tmp_path / "model.sig"
    import json

    sig.write_text(json.dumps(sign_model(model, key)))
    assert _hash_threads() == []

    # a pending manifest that is cancelled leaves no thread behind and cannot be reused
    pending = start_signing(model, workers=2)
    pending.cancel()
    assert _hash_threads() == []

    # verify with another key: "wrong-key" before any digest is used; threads stopped
    pending_v = start_verify(model, sig)
    result = verify_model(model, sig, other.public_key(), pending=pending_v)
    assert [p.kind for p in result.problems] == ["wrong-key"]
    assert _hash_threads() == []

    # the right key, started early: verified, same as without starting early
    result = verify_model(model, sig, key.public_key(), pending=start_verify(model, sig))
    assert result.ok and result.files == 3
    assert _hash_threads() == []

    # an altered statement: the signature check decides, not the early parse
    doc = json.loads(sig.read_text())
    import base64

    payload = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "00" * 32
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    bad = tmp_path / "altered.sig"
    bad.write_text(json.dumps(doc))
    result = verify_model(model, bad, key.public_key(), pending=start_verify(model, bad))
    assert [p.kind for p in result.problems] == ["signature"]
    assert _hash_threads() == []

    # a certificate for another key is refused while the started hashing is stopped
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(other.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(other, hashes.SHA256())
    )  # fmt: skip
    with pytest.raises(OpenwardError, match="does not certify"):
        sign_model(model, key, certificate=cert, pending=start_signing(model))
    assert _hash_threads() == []


def test_cli_sign_with_a_bad_key_writes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from openward.cli.main import app

    model = _tree(tmp_path / "model", {"a.bin": 4 << 20, "config.json": 10})
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key\n")
    out = tmp_path / "model.sig"
    result = CliRunner().invoke(app, ["sign", str(model), "-k", str(bad_key), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert not out.exists()
    assert _hash_threads() == []
