"""More samples for the zoo, one module per area (detection, templates, keras, ...).

Each module here may define ``malicious(add, touch)`` and ``benign(add)``,
called by :func:`openward._samples.build_malicious` and
:func:`openward._samples.build_benign` with their own ``add`` and ``touch``.
Modules are found by name, so adding an area is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType

__all__ = ["areas", "extend_benign", "extend_malicious"]


def areas() -> Iterator[ModuleType]:
    """The sample modules, in name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{__name__}.{info.name}")


def extend_malicious(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    for module in areas():
        build = getattr(module, "malicious", None)
        if build is not None:
            build(add, touch)


def extend_benign(add: Callable[[str, bytes, str, str], None]) -> None:
    for module in areas():
        build = getattr(module, "benign", None)
        if build is not None:
            build(add)
