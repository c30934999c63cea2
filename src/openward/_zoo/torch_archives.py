"""PyTorch zip checkpoints that borrowed TorchScript's trust.

Inside a TorchScript archive openward does not report the ``__torch__.*``
classes that the archive's ``code/`` defines: TorchScript's own unpickler
resolves them to that code, which is analysed on its own. Names were taken
from the path of each ``code/`` file, so ``code/os.py`` defining ``class
system`` vouched for ``os.system``; an archive without ``constants.pkl`` is no
TorchScript archive to ``torch.load``, which unpickled its ``data.pkl`` with
Python's unpickler and called the real ``os.system``, while the scan was
clean (found by the second-engineer attack on the pickle analysis, branch
``atk-pickle``).
"""

from __future__ import annotations

import io
import struct
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
