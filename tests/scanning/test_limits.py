"""Every limit is a setting; hitting one is a finding, never a hang or a crash."""

from __future__ import annotations

import gzip
import io
import pickle
import time
import zipfile
from pathlib import Path

import openward
from openward.scanning.interface import ScanLimits


def _rules(report: openward.ScanReport) -> dict[str, str]:
    return {f.rule_id: f.evidence for f in report.findings}


def _nested_zip(depth: int) -> bytes:
    data = pickle.dumps({"ok": 1}, protocol=4)
    for level in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"l{level}", data)
        data = buf.getvalue()
    return data


def test_max_depth(tmp_path: Path) -> None:
    p = tmp_path / "nested.zip"
    p.write_bytes(_nested_zip(4))
    assert _rules(openward.scan(p)) == {}
    rules = _rules(openward.scan(p, limits=ScanLimits(max_depth=2)))
    assert "max_depth=2" in rules["scan-limit-reached"]


def test_max_members(tmp_path: Path) -> None:
    p = tmp_path / "many.zip"
    with zipfile.ZipFile(p, "w") as z:
        for i in range(40):
            z.writestr(f"f{i}.txt", b"x")
    rules = _rules(openward.scan(p, limits=ScanLimits(max_members=10)))
    assert "max_members" in rules["scan-limit-reached"]


def test_max_expanded_bytes(tmp_path: Path) -> None:
    p = tmp_path / "big.pkl.gz"
    p.write_bytes(gzip.compress(pickle.dumps(b"\x01" * (8 << 20), protocol=4), 1))
    assert "archive-bomb" not in _rules(openward.scan(p))
    rules = _rules(openward.scan(p, limits=ScanLimits(max_expanded_bytes=1 << 20)))
    assert "max_expanded_bytes" in rules["archive-bomb"]


def test_max_ratio(tmp_path: Path) -> None:
    import os

    weights = tmp_path / "weights.gz"
    weights.write_bytes(gzip.compress(os.urandom(1 << 20) * 70, 6))  # compressible, not absurdly
    assert "archive-bomb" not in _rules(openward.scan(weights))
    zeros = tmp_path / "zeros.gz"
    zeros.write_bytes(gzip.compress(bytes(80 << 20), 9))  # deflate's maximum, ~1030:1
    assert "max_ratio=1000" in _rules(openward.scan(zeros))["archive-bomb"]
    assert "archive-bomb" not in _rules(openward.scan(zeros, limits=ScanLimits(max_ratio=2000)))


def test_max_file_seconds_stops_a_slow_scan_quickly(tmp_path: Path) -> None:
    p = tmp_path / "long.pkl"
    p.write_bytes(b"\x80\x04" + b"N0" * 3_000_000 + b"N.")
    started = time.monotonic()
    report = openward.scan(p, limits=ScanLimits(max_file_seconds=0.05))
    assert time.monotonic() - started < 5
    assert "max_file_seconds" in _rules(report)["scan-limit-reached"]


def test_max_pickle_opcodes(tmp_path: Path) -> None:
    p = tmp_path / "long.pkl"
    p.write_bytes(b"\x80\x04" + b"N0" * 20_000 + b"N.")
    rules = _rules(openward.scan(p, limits=ScanLimits(max_pickle_opcodes=10_000)))
    assert "max_pickle_opcodes" in rules["scan-limit-reached"]


def test_max_read_bytes(tmp_path: Path) -> None:
    p = tmp_path / "a.pkl"
    p.write_bytes(pickle.dumps([str(i) * 20 for i in range(20_000)], protocol=0))
    rules = _rules(openward.scan(p, limits=ScanLimits(max_read_bytes=100_000)))
    assert "max_read_bytes" in rules["scan-limit-reached"]


def test_limits_reject_nonsense() -> None:
    import pytest

    from openward.errors import InvalidSettingError

    with pytest.raises(InvalidSettingError):
        ScanLimits(max_depth=0)
    with pytest.raises(InvalidSettingError):
        ScanLimits(max_file_seconds=-1)


def _quick(path: Path) -> openward.ScanReport:
    started = time.monotonic()
    report = openward.scan(path, limits=ScanLimits(max_file_seconds=5))
    assert time.monotonic() - started < 10
    return report


def test_shared_values_cannot_blow_up_the_analysis(tmp_path: Path) -> None:
    """A few KB of pickle that shares values through the memo (a tree of
    300**4 leaves, or one bytes constant passed 256 times per level) is
    analysed in bounded time, and its payload is still reported."""
    import struct

    inner = b"\x80\x02N."
    for _ in range(7):
        inner = (
            b"\x80\x02cmod\nfunc\nB"
            + struct.pack("<I", len(inner))
            + inner
            + b"q\x000("
            + b"h\x00" * 256
            + b"tR."
        )
    fanout = tmp_path / "fanout.pkl"
    fanout.write_bytes(inner)
    assert "pickle-unlisted-global" in _rules(_quick(fanout))
    body = b"\x80\x02cos\nsystem\nK\x01q\x000"
    for level in range(1, 5):
        body += b"(" + (b"h" + bytes([level - 1])) * 300 + b"tq" + bytes([level]) + b"0"
    tree = tmp_path / "tree.pkl"
    tree.write_bytes(body + b"h\x04\x85R.")
    assert "pickle-dangerous-global" in _rules(_quick(tree))


def test_object_arrays_inside_object_arrays_do_not_nest(tmp_path: Path) -> None:
    """joblib reads an object array's nested pickle with a plain unpickler, so the
    array wrappers inside it are ordinary objects: 3000 of them are one flat
    stream, read without recursion, with no limit to reach."""
    wrapper = (
        b"\x80\x04cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(\x8c\x05dtypecnumpy\ndtype\n"
        b"\x8c\x02O8\x89\x88\x87R\x8c\x05shape\x4b\x01\x85ub"
    )
    p = tmp_path / "nested.joblib"
    p.write_bytes(wrapper * 3000 + b"N." * 3000)
    serious = [f for f in _quick(p).findings if f.severity.value in ("high", "critical")]
    assert serious == []
