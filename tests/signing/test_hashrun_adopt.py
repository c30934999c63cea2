"""An early hashing run stands in for the command's own only while the files it has
read are still the files at their paths (openward.signing.hashrun.HashRun.same_files).

The entry point walks and hashes the model before the command walks it again; a file
swapped or rewritten in between must not keep the digest of what it held before.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from openward.signing.hashrun import HashRun, ManifestError, adopt_or_start, walk


def _model(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.bin").write_bytes(b"a" * 5000)
    (root / "sub" / "b.bin").write_bytes(b"b" * 300)
    return root


def _hashed(run: HashRun) -> HashRun:
    for t in run._threads:  # every file read, nothing collected yet
        t.join()
    return run


def test_unchanged_files_are_adopted(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    run = _hashed(HashRun(walk(model, [], False)))
    items = walk(str(model) + "/", [], False)  # another spelling of the same paths
    assert run.same_files(items)
    assert adopt_or_start(run, items, None) is run
    assert run.wait()["a.bin"] == hashlib.sha256(b"a" * 5000).hexdigest()


def test_a_file_replaced_by_another_of_the_same_size_is_not_adopted(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    run = _hashed(HashRun(walk(model, [], False)))
    (tmp_path / "new").write_bytes(b"X" * 5000)
    os.replace(tmp_path / "new", model / "a.bin")
    items = walk(model, [], False)
    assert not run.same_files(items)
    fresh = adopt_or_start(run, items, None)
    assert fresh is not run and fresh is not None
    assert fresh.wait()["a.bin"] == hashlib.sha256(b"X" * 5000).hexdigest()


def test_a_file_rewritten_in_place_is_not_adopted(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    run = _hashed(HashRun(walk(model, [], False)))
    st = (model / "sub" / "b.bin").stat()
    with open(model / "sub" / "b.bin", "r+b") as f:
        f.write(b"Z")
    os.utime(model / "sub" / "b.bin", ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back
    assert not run.same_files(walk(model, [], False))
    run.cancel()


def test_a_run_whose_file_failed_is_not_adopted(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    items = walk(model, [], False)
    (model / "a.bin").unlink()  # gone before the run opens it ...
    run = _hashed(HashRun(items))
    (model / "a.bin").write_bytes(b"a" * 5000)  # ... and back before the command's walk
    assert not run.same_files(walk(model, [], False))
    run.cancel()


def test_a_file_replaced_by_a_fifo_or_a_device_after_the_walk_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    items = walk(model, [], False)
    (model / "a.bin").unlink()
    os.mkfifo(model / "a.bin")  # opening it for reading would wait for a writer forever
    run = HashRun(items)
    with pytest.raises(ManifestError, match=r"a\.bin is not a regular file"):
        run.wait()
    items = [("zero", "/dev/zero", 10)]  # it would never reach its end
    with pytest.raises(ManifestError, match="zero is not a regular file"):
        HashRun(items).wait()
