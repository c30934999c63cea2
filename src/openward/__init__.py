"""openward: trust infrastructure for open-weight AI models.

The library is the product; the CLI is one face of it::

    import openward

    report = openward.scan("path/to/model")
    for finding in report.findings:
        print(finding.severity, finding.rule_id, finding.path, finding.evidence)
    if report.exit_code() != 0:
        raise SystemExit("unsafe to load")
"""

from __future__ import annotations

from openward._version import __version__
from openward.errors import OpenwardError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (see below)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path
    from typing import Any

    from openward.facts.model import ModelFacts
    from openward.scanning.engine import ProgressCallback
    from openward.scanning.interface import (
        FileResult,
        Finding,
        ScanLimits,
        ScanReport,
        Severity,
    )

_SCAN_TYPES = frozenset({"FileResult", "Finding", "ScanLimits", "ScanReport", "Severity"})


def __getattr__(name: str) -> Any:
    # the scan result types load on first use, and the package imports neither typing
    # nor pathlib: `openward sign` and `verify` start hashing before anything else is
    # imported (openward.cli.entry)
    if name in _SCAN_TYPES:
        from openward.scanning import interface

        value = getattr(interface, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'openward' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SCAN_TYPES})  # the lazy names too (help(), completion)


__all__ = [
    "FileResult",
    "Finding",
    "OpenwardError",
    "ScanLimits",
    "ScanReport",
    "Severity",
    "__version__",
    "inspect",
    "scan",
]


def scan(
    path: str | Path,
    *,
    limits: ScanLimits | None = None,
    allow: Iterable[str] = (),
    jobs: int | None = None,
    progress: ProgressCallback | None = None,
) -> ScanReport:
    """Scan a model file or directory for code-execution payloads and archive tricks.

    Nothing is loaded or executed: formats are detected from content, pickles
    are analysed opcode by opcode against an allowlist, archives are opened
    within ``limits``.

    Args:
        path: a file or a directory (walked recursively; symlinks never
            followed out of it), or ``hf://ORG/NAME[@REV]`` resolved from the
            local Hugging Face cache (never downloaded).
        limits: bounds on depth, members, bytes and time (:class:`ScanLimits`).
        allow: extra ``module.name`` globals you vouch for.
        jobs: worker processes for directories (default: one per core).
        progress: called as ``progress(file, result)`` after each file.

    Raises:
        openward.errors.ScanTargetError: ``path`` does not exist or cannot be read.
    """
    from openward.scanning.engine import scan_path

    return scan_path(path, limits=limits, allow=allow, jobs=jobs, progress=progress)


def inspect(
    path: str | Path, *, tokens: float | None = None, policy: str | Path | None = None
) -> ModelFacts:
    """What a model is, from its headers and configs alone (``openward inspect``).

    Args:
        path: a model directory, a weight file, a Hugging Face cache snapshot or
            ``hf://ORG/NAME[@REV]`` from the local cache.
        tokens: training tokens for the 6ND compute estimate (else the model card's).
        policy: a compute-policy YAML file (default: the shipped policy).

    Returns a :class:`openward.facts.model.ModelFacts`; its JSON form is
    ``openward.report.facts_json.render_facts_json(facts)``.
    """
    from openward.facts.model import inspect_model

    return inspect_model(path, tokens=tokens, policy=policy)
