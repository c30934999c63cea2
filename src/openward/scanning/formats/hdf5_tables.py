"""PyTables and pandas HDF5 files: the pickles their readers unpickle.

PyTables stores attribute values it has no HDF5 type for as pickles, in
fixed-length string attributes, and unpickles *any* string attribute that
ends with ``.`` when it is read (``tables/attributeset.py``); pandas keeps
its table metadata there (``non_index_axes``, ``info``, ``data_columns``).
Object columns are stored as ``VLArray`` rows of pickled bytes (attribute
``PSEUDOATOM = object``), unpickled by ``pandas.read_hdf``. Both are read
here with h5py, as bytes, and handed to the pickle machinery like any
member; PyTables itself is never used, since opening a node with it runs
the pickles.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from openward.artifacts.blob import Blob
from openward.artifacts.tar import BlobReader
from openward.scanning.context import Location, ScanContext

__all__ = ["scan_pytables_pickles"]

_NOT_PICKLED: Final = frozenset({b"0", b"0."})  # PyTables' own exception (ticket #253)
_SHOWN: Final = 5


def _pickled_attribute(value: Any) -> bytes | None:
    """The bytes PyTables would unpickle, or None (it unpickles strings ending in '.')."""
    import numpy as np

    if isinstance(value, str):
        # h5py decodes variable-length strings; PyTables unpickles them as bytes
        value = value.encode("utf-8", "surrogateescape")
    if isinstance(value, np.bytes_ | bytes):
        data = bytes(value)
        if len(data) > 1 and data.endswith(b".") and data not in _NOT_PICKLED:
            return data
    return None


def _attribute_value(node: Any, attrs: Any, key: str | bytes) -> Any:
    """The attribute as PyTables reads it.

    h5py's ``attrs[key]`` stops a fixed-length string at its first NUL byte;
    PyTables reads every byte (numpy then drops only trailing NULs), so a
    binary pickle (``q\\x00`` is its first memo store) is whole there and cut
    short here. Scalar fixed-length strings are therefore read with the file's
    own type through the low-level API.
    """
    import h5py
    import numpy as np

    try:
        raw_name = key if isinstance(key, bytes) else key.encode("utf-8", "surrogateescape")
        aid = h5py.h5a.open(node.id, raw_name)
        kind = aid.get_type()
        if (
            isinstance(kind, h5py.h5t.TypeStringID)
            and not kind.is_variable_str()
            and aid.shape == ()
        ):
            buf = np.zeros((), dtype=f"S{kind.get_size()}")
            aid.read(buf, mtype=kind)
            return np.bytes_(buf.tobytes().rstrip(b"\0"))
    except (OSError, ValueError, KeyError, RuntimeError, TypeError):
        pass  # not a fixed-length string attribute: h5py's own reading below
    return attrs[key]


def scan_pytables_pickles(ctx: ScanContext, blob: Blob, loc: Location) -> None:
    """Analyse every pickle PyTables would load from the HDF5 file in ``blob``."""
    import h5py
    import numpy as np

    try:
        f = h5py.File(BlobReader(blob), "r")
    except (OSError, ValueError, KeyError, RuntimeError):
        return  # the HDF5 handler reports files h5py refuses
    attributes: list[str] = []
    rows: list[str] = []
    with f:
        names: list[str] = []

        def collect(name: str) -> object:
            names.append(name)
            return True if len(names) > ctx.limits.max_members else None

        # a broken link or node stops the walk: what was listed is still analysed
        with contextlib.suppress(OSError, ValueError, KeyError, RuntimeError):
            f.visit(collect)
        if len(names) > ctx.limits.max_members:
            ctx.add(
                "scan-limit-reached",
                loc,
                None,
                f"HDF5 file has more than {ctx.limits.max_members} nodes (setting max_members)",
            )
            names = names[: ctx.limits.max_members]
        for path in ["/", *names]:
            if ctx.timed_out:
                break
            ctx.tick()
            try:
                node = f[path]
                attrs = node.attrs
                keys = list(attrs.keys())
            except (OSError, ValueError, KeyError, RuntimeError):
                continue
            for key in keys:
                try:
                    data = _pickled_attribute(_attribute_value(node, attrs, key))
                except (OSError, ValueError, KeyError, RuntimeError, TypeError):
                    continue
                if data is None:
                    continue
                shown = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
                label = f"<attribute {path} {shown}>"
                fmt, _ = ctx.scan(Blob.of(data), (*loc, label), label)
                if fmt == "pickle":
                    attributes.append(f"{path} {shown}")
            if isinstance(node, h5py.Dataset) and _is_object_atom(attrs, node, np):
                rows += _scan_object_rows(ctx, node, path, loc)
    if attributes or rows:
        shown = ", ".join((attributes + rows)[:_SHOWN])
        more = len(attributes) + len(rows) - _SHOWN
        ctx.add(
            "pytables-pickle",
            loc,
            None,
            f"{len(attributes)} pickled attributes, {len(rows)} pickled object rows: {shown}"
            + (f" and {more} more" if more > 0 else ""),
        )


def _is_object_atom(attrs: Any, node: Any, np: Any) -> bool:
    import h5py

    try:
        pseudo = attrs.get("PSEUDOATOM")
    except (OSError, ValueError, KeyError, RuntimeError, TypeError):
        return False
    if not isinstance(pseudo, np.bytes_ | bytes) or bytes(pseudo) != b"object":
        return False
    base = h5py.check_vlen_dtype(node.dtype)
    return base is not None and np.dtype(base).itemsize == 1


def _scan_object_rows(ctx: ScanContext, node: Any, path: str, loc: Location) -> list[str]:
    """Each row of an ObjectAtom VLArray is one pickle."""
    found: list[str] = []
    count = int(node.shape[0]) if node.shape else 0
    if count > ctx.limits.max_members:
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"{path} has {count} object rows; the first {ctx.limits.max_members} were analysed "
            "(setting max_members)",
        )
        count = ctx.limits.max_members
    for i in range(count):
        if ctx.timed_out:
            break
        try:
            row = node[i]
        except (OSError, ValueError, RuntimeError, TypeError):
            continue
        data = bytes(row.tobytes()) if hasattr(row, "tobytes") else bytes(row)
        ctx.charge_read(len(data))
        label = f"<object row {path}[{i}]>"
        fmt, _ = ctx.scan(Blob.of(data), (*loc, label), label)
        if fmt == "pickle":
            found.append(f"{path}[{i}]")
    return found
