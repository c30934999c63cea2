"""Classes of well-known ML libraries that run what their pickled state says.

The trust list's checks (``openward.scanning.trust_checks``) read every hook
the unpickler reaches in each library class; these are classes they refused,
whose pickles run code in the real loader. They must stay reported however
familiar the library is: a policy that trusted a whole library by name would
pass them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["malicious"]


def _newobj_build(module: str, name: str, state: dict[str, str]) -> bytes:
    """Protocol 2: ``module.name`` built with NEWOBJ, then BUILD with a dict of strings."""
    out = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")\x81}"
    for key, value in state.items():
        for text in (key, value):
            raw = text.encode()
            out += b"X" + struct.pack("<I", len(raw)) + raw
        out += b"s"
    return out + b"b."


def malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "scipy-distribution-exec"
    source = f"import os\nos.system({touch(tag)!r})\n"
    add(
        "library/scipy_norm_gen.pkl",
        _newobj_build(
            "scipy.stats._continuous_distns", "norm_gen", {"_parse_arg_template": source}
        ),
        tag,
        "scipy.stats distribution whose __setstate__ exec()s "  # safe: description text
        "the _parse_arg_template its "
        "state holds (rv_generic._attach_argparser_methods)",
        "pickle-unlisted-global",
        "high",
        loader="pickle",
        marker=tag,
    )
