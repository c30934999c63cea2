"""The values that cross the scanning layer: settings in, findings and reports out.

They are frozen dataclasses, so a report can be passed between processes,
compared in tests and rendered by pure functions. The JSON form and its
schema come from pydantic (:mod:`openward.report.json`), which reads the field
docstrings below as descriptions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from openward.errors import InvalidSettingError

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "FileResult",
    "Finding",
    "ScanLimits",
    "ScanReport",
    "ScanSummary",
    "Severity",
]

REPORT_SCHEMA_VERSION = "1"


class Severity(enum.StrEnum):
    """How bad a finding is, lowest first."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise InvalidSettingError("severity", text, f"one of {names}") from None


_RANK = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in one place."""

    rule_id: str
    """Stable identifier of the rule that fired, e.g. ``pickle-dangerous-global``."""
    severity: Severity
    """``info``, ``low``, ``medium``, ``high`` or ``critical``."""
    path: str
    """File, relative to the scanned root (the file's own name when a file was scanned)."""
    member: str | None
    """Path inside a container (archive member, nested pickle), levels joined by ``!``;
    null for the file itself."""
    offset: int | None
    """Byte offset inside the member (or the file, when ``member`` is null) where the problem is."""
    message: str
    """One line saying what was found."""
    evidence: str
    """The concrete bytes or names that triggered the rule, e.g. ``posix.system('touch x')``."""
    remedy: str
    """One line saying what to do about it."""


@dataclass(frozen=True, slots=True)
class FileResult:
    """What the scan did with one file."""

    path: str
    """Relative to the scanned root, like ``Finding.path``."""
    size: int
    """Size in bytes."""
    format: str
    """Format detected from the content (never the extension), e.g. ``torch-zip``, ``pickle``."""
    analysed: bool
    """False when openward has no reader for this format yet (listed with an ``info`` finding)."""
    members: int
    """Container members examined (0 for a plain file)."""
    seconds: float
    """Wall time spent on this file."""


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """Bounds on the work one scan may do; hitting one is a finding, never a hang."""

    max_depth: int = 6
    """Deepest container nesting opened (zip in tar in gzip is depth 3)."""
    max_members: int = 100_000
    """Most members read from one archive."""
    max_expanded_bytes: int = 8 << 30
    """Most bytes decompressed for one top-level file, over all its members."""
    max_ratio: int = 1000
    """Highest compression ratio accepted once a stream expands past 64 MiB."""
    max_file_seconds: float = 120.0
    """Wall time allowed per top-level file."""
    max_pickle_opcodes: int = 50_000_000
    """Most opcodes analysed in one pickle stream."""
    max_read_bytes: int = 16 << 30
    """Most bytes examined for one top-level file (pickle streams, headers, decompressed data)."""
    max_config_bytes: int = 64 << 20
    """Largest JSON config a loader reads by name (config.json, tokenizer_config.json, …)
    that is parsed; a larger one is reported, not skipped."""
    max_source_bytes: int = 4 << 20
    """Largest chat template or Python file parsed into a syntax tree."""

    def __post_init__(self) -> None:
        for name in (
            "max_depth",
            "max_members",
            "max_expanded_bytes",
            "max_ratio",
            "max_pickle_opcodes",
            "max_read_bytes",
            "max_config_bytes",
            "max_source_bytes",
        ):
            if getattr(self, name) < 1:
                raise InvalidSettingError(name, getattr(self, name), "must be at least 1")
        if self.max_file_seconds <= 0:
            raise InvalidSettingError("max_file_seconds", self.max_file_seconds, "must be > 0")


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """Counts over a whole report, for dashboards and quick checks."""

    files: int
    """Files seen."""
    files_analysed: int
    """Files whose format openward has a reader for."""
    findings: int
    """Total findings."""
    by_severity: dict[str, int]
    """Findings per severity; every severity is present."""
    max_severity: Severity | None
    """The most severe finding's severity; null when there are none."""


@dataclass(frozen=True, slots=True)
class ScanReport:
    """Everything one ``openward scan`` found."""

    schema_version: str
    """Version of this report's JSON shape; fields are only ever added."""
    target: str
    """The path that was scanned, as given."""
    openward_version: str
    """Version of openward that produced the report."""
    started_at: str
    """UTC start time, ISO 8601."""
    seconds: float
    """Wall time of the whole scan."""
    files: tuple[FileResult, ...]
    """Every file seen, including those of formats without a reader."""
    findings: tuple[Finding, ...]
    """Every finding, most severe first."""
    summary: ScanSummary
    """Counts over files and findings."""
    limits: ScanLimits = field(default_factory=ScanLimits)
    """The limits the scan ran under."""

    @classmethod
    def build(
        cls,
        *,
        target: str,
        openward_version: str,
        started_at: str,
        seconds: float,
        files: tuple[FileResult, ...],
        findings: tuple[Finding, ...],
        limits: ScanLimits,
    ) -> ScanReport:
        counts = {s.value: 0 for s in Severity}
        for f in findings:
            counts[f.severity.value] += 1
        worst = max((f.severity for f in findings), key=lambda s: s.rank, default=None)
        summary = ScanSummary(
            files=len(files),
            files_analysed=sum(1 for f in files if f.analysed),
            findings=len(findings),
            by_severity=counts,
            max_severity=worst,
        )
        return cls(
            schema_version=REPORT_SCHEMA_VERSION,
            target=target,
            openward_version=openward_version,
            started_at=started_at,
            seconds=seconds,
            files=files,
            findings=findings,
            summary=summary,
            limits=limits,
        )

    @property
    def max_severity(self) -> Severity | None:
        return self.summary.max_severity

    def at_or_above(self, threshold: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity.rank >= threshold.rank)

    def exit_code(self, fail_on: Severity | None = Severity.HIGH) -> int:
        """0 when nothing reaches ``fail_on`` (``None``: never fail), else 1."""
        if fail_on is None:
            return 0
        return 1 if self.at_or_above(fail_on) else 0
