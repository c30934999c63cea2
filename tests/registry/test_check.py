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
    assert check_content(flagged, {"e" * 64}, "f" * 64, {"w.safetensors": "e" * 64}) == []


def test_manifest_paths_with_control_characters_are_refused() -> None:
    from openward.registry.service import RegistryError, check_path

    assert check_path("sub/model.safetensors") == "sub/model.safetensors"
    for bad in ("a\x1b[2Jb.bin", "x\ny", "nul\x00", "del\x7f"):
        with pytest.raises(RegistryError, match=r"control characters|not a relative path"):
            check_path(bad)
