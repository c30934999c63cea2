"""Errors a user of openward can hit.

Every error carries the path or input that caused it and says what to do
next, so the CLI can print it as-is and exit with status 2.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: this module
if TYPE_CHECKING:  # loads before `openward sign` starts hashing (openward.cli.entry)
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any


class OpenwardError(Exception):
    """Base class of every error openward raises on purpose."""


class ScanTargetError(OpenwardError):
    """The path given to ``scan`` cannot be scanned at all."""

    def __init__(self, path: Path | str, reason: str) -> None:
        from pathlib import Path

        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class InvalidSettingError(OpenwardError, ValueError):
    """A scan option has a value outside its allowed range."""

    def __init__(self, name: str, value: object, hint: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid value for {name}: {value!r} ({hint})")


class TargetError(OpenwardError):
    """A model target (local folder, GGUF file, ``hf://`` snapshot, endpoint) cannot be used."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"{target}: {reason}")


class TargetRefused(TargetError):
    """The scan gate refused a local target: its files have findings of severity high or above.

    ``findings`` holds the :class:`openward.scanning.interface.Finding` values that refused it.
    """

    def __init__(self, target: str, findings: Sequence[Any]) -> None:
        self.findings = tuple(findings)
        listed = "; ".join(
            f"{f.severity} {f.rule_id} in {f.path}"
            + (f"!{f.member}" if f.member else "")
            + (f" ({f.evidence})" if f.evidence else "")
            for f in self.findings
        )
        super().__init__(
            target,
            f"refused to load: the scan found {len(self.findings)} finding(s) of severity high "
            f"or above: {listed} (run `openward scan {target}` for details)",
        )
