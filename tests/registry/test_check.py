"""`openward check`'s hashing of a model on disk: linked folders are followed inside
the model and refused outside it, loops end, and the digest is the signing layer's."""

from __future__ import annotations

from pathlib import Path

import pytest

from openward.registry.check import CheckError, check_content, hash_target
from openward.signing.manifest import build_manifest


def _model(root: Path) -> Path:
    (root / "shards").mkdir(parents=True)
    (root / "shards" / "model.safetensors").write_bytes(b"weights" * 100)
    (root / "config.json").write_text("{}")
    return root


def test_digest_matches_the_signing_manifest(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    digest, files = hash_target(model)
    assert digest == build_manifest(model).digest
    assert set(files) == {"config.json", "shards/model.safetensors"}


def test_linked_folders_inside_are_hashed_outside_refused_loops_end(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.safetensors").write_bytes(b"x")
    model = _model(tmp_path / "m")
    (model / "inner").symlink_to("shards", target_is_directory=True)
    (model / "shards" / "loop").symlink_to("..", target_is_directory=True)
    _, files = hash_target(model)
    assert {"inner/model.safetensors", "shards/model.safetensors"} <= set(files)
    assert not any("loop" in path for path in files)
    (model / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CheckError, match="escape links out of the model"):
        hash_target(model)


def test_configs_shared_with_a_flagged_model_do_not_flag() -> None:
    flagged = [{"name": "a/b", "version": "1", "digest": "d" * 64, "status": "taken-down",
                "files": {"config.json": "c" * 64, "model.safetensors": "e" * 64}}]  # fmt: skip
    assert check_content(flagged, set(), "f" * 64, {"config.json": "c" * 64}) == []
    hit = check_content(flagged, set(), "f" * 64, {"w.safetensors": "e" * 64})
    assert [(h["match"], h["files"]) for h in hit] == [("files", ["w.safetensors"])]


def test_weights_published_elsewhere_do_not_whitelist_a_takedown() -> None:
    """Issue 13: a copy published before the takedown made its weights "clean", so
    every later copy passed. Only a quarantine (the checks' verdict, which anyone can
    provoke) still defers to published weights; an admin's exception is explicit."""
    taken = {"name": "a/b", "version": "1", "digest": "d" * 64, "status": "taken-down",
             "files": {"model.onnx_data": "e" * 64}, "weights": ["e" * 64]}  # fmt: skip
    local = {"renamed.part": "e" * 64}
    hit = check_content([taken], {"e" * 64}, "f" * 64, local)
    assert [(h["match"], h["files"]) for h in hit] == [("files", ["renamed.part"])]
    assert check_content([{**taken, "exempt": ["f" * 64]}], set(), "f" * 64, local) == []
    quarantined = {**taken, "status": "quarantined"}
    assert check_content([quarantined], {"e" * 64}, "f" * 64, local) == []
    assert len(check_content([quarantined], set(), "f" * 64, local)) == 1
    # An export without `weights` (an older registry): the caller's classifier decides.
    old = {k: v for k, v in taken.items() if k != "weights"}
    assert check_content([old], set(), "f" * 64, local, lambda p, d: True)[0]["files"] == [
        "renamed.part"
    ]
    assert check_content([old], set(), "f" * 64, local, lambda p, d: False) == []


def _sentencepiece(pieces: int) -> bytes:
    """A SentencePiece ModelProto: field 1 repeated {1: piece, 2: score, 3: type}."""
    import struct

    out = bytearray()
    for i in range(pieces):
        word = f"\u2581piece{i}".encode()
        inner = b"\x0a" + bytes([len(word)]) + word + b"\x15" + struct.pack("<f", -i / 7)
        inner += b"\x18\x01"
        out += b"\x0a" + bytes([len(inner)]) + inner
    return bytes(out)


@pytest.mark.parametrize(
    ("name", "data", "counts"),
    [
        # Weights without a weight suffix, in any name, by size.
        ("model.onnx_data", b"\x00\x01" + bytes(range(256)) * 4200, True),
        ("shard.part", b"\x00\x01" + bytes(range(256)) * 4200, True),
        ("blob", b"\x00\x01" + bytes(range(256)) * 4200, True),
        # Model formats by content, whatever the name, from 32 KiB.
        ("tokenizer.json", b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": {}}      ' + bytes(40000), True),
        ("README.md", b"\x80\x04\x95" + bytes(40000), True),
        ("notes", b"PK\x03\x04" + bytes(40000), True),
        ("scheduler.pt", b"\x80\x02" + bytes(1000), False),
        # Metadata that unrelated models share: never, at any size.
        ("tokenizer.json", b'{"vocab": {' + b'"tok": 1, ' * 200000 + b"}}", False),
        ("sub/vocab.txt", b"word\n" * 400000, False),
        ("LICENSE", b"Apache License\n" * 100000, False),
        ("tokenizer.model", None, False),
        # ... SentencePiece tokenizers by content, whatever their name (DeBERTa, mBART).
        ("spm.model", None, False),
        ("sentence.bpe.model", None, False),
        ("figure.png", b"\x89PNG\r\n\x1a\n" + bytes(2 << 20), False),
        # Small files in no model format (code, configs).
        ("modeling_x.py", b"import torch\n" * 1000, False),
        ("config", b"\x00\x01" + bytes(5000), False),
        ("empty.safetensors", b"", False),
    ],
)
def test_which_files_identify_a_model(tmp_path: Path, name: str, data: bytes | None,
                                      counts: bool) -> None:  # fmt: skip
    from openward.registry.check import SNIFF_BYTES, file_identifies_model, identifies_model

    if data is None:
        data = _sentencepiece(60000)
        assert len(data) > 1 << 20
    assert identifies_model(name, len(data), data[:SNIFF_BYTES]) is counts
    path = tmp_path / "f"
    path.write_bytes(data)
    assert file_identifies_model(name, path) is counts


def test_manifest_paths_with_control_characters_are_refused() -> None:
    from openward.registry.service import RegistryError, check_path

    assert check_path("sub/model.safetensors") == "sub/model.safetensors"
    for bad in ("a\x1b[2Jb.bin", "x\ny", "nul\x00", "del\x7f"):
        with pytest.raises(RegistryError, match=r"control characters|not a relative path"):
            check_path(bad)
