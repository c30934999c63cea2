"""Per-file scanning state: findings, budgets, deadline, and recursion into members.

One :class:`ScanContext` exists per top-level file. Format handlers receive it
and call :meth:`ScanContext.scan` on every member they open, which detects the
member's format by content and dispatches to the next handler, within the
depth, size and time limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import (
    Format,
    detect_format,
    fallback_format,
    hdf5_superblock_offset,
    looks_like_tar,
    protobuf_models,
)
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
from openward.artifacts.zip import find_end_of_central_directory
from openward.scanning.interface import Finding, ScanLimits, Severity
from openward.scanning.pickle_policy import GlobalVerdict, classify_global
from openward.scanning.rules import rule

__all__ = ["Location", "ScanContext"]

Location = tuple[str, ...]
"""Member path from the file down to the artifact, one entry per container level."""

# Formats worth an info finding when met inside a container: model formats
# openward has no reader for yet. Plain data and text members are not noise-worthy.
NOTEWORTHY_MEMBER_FORMATS: Final = frozenset({Format.RAR})

PICKLE_FORMATS: Final = frozenset({Format.PICKLE, Format.PICKLE_CANDIDATE, Format.TORCH_LEGACY})
"""Formats whose handler already analyses the blob as a pickle from byte 0."""

PLAIN_FORMATS: Final = frozenset({Format.TEXT, Format.JSON, Format.UNKNOWN, Format.EMPTY})
"""Labels that mean "no particular format": a pickle found there is just a pickle."""

ZIP_LABELS: Final = frozenset({Format.ZIP, "torch-zip", "npz", "keras"})
TAR_LABELS: Final = frozenset({Format.TAR, "torch-legacy-tar"})
HDF5_LABELS: Final = frozenset({Format.HDF5, "keras-h5"})
ONNX_LABELS: Final = frozenset({Format.ONNX, "onnx"})
SAVED_MODEL_LABELS: Final = frozenset({Format.TF_SAVED_MODEL, "tf-saved-model"})

View = tuple[str, int, int]
"""A view already analysed: (kind, id of the underlying buffer, absolute offset
of what identifies it: a zip's end record, a tar's first header, an HDF5 superblock)."""

_NO_HANDLER: Final = object()
_BY_NAME_LABELS: Final = frozenset({Format.JSON, Format.TEXT, Format.EMPTY, "jinja", "python"})
"""Labels of files the repository handler already read by name."""

_LIMIT_TO_BOMB: Final = frozenset({"max_ratio", "max_expanded_bytes"})
RATIO_FLOOR: Final = 64 << 20
"""The compression-ratio limit applies once a stream has produced this much:
small, highly compressible members (a zero-filled tensor) are not bombs."""


class ScanContext:
    """The scan of one top-level file."""

    def __init__(
        self,
        path: str,
        limits: ScanLimits,
        allow: frozenset[str],
        deadline: float,
        fs_path: Path | None = None,
    ) -> None:
        self.path = path
        self.fs_path = fs_path
        """Where the top-level file lives on disk, for rules about its siblings."""
        self.limits = limits
        self.allow = allow
        self.deadline = deadline
        self.findings: list[Finding] = []
        self.members = 0
        self.expanded = 0
        self.read_bytes = 0
        self.timed_out = False
        self.embedded_seen: set[tuple[int, int, int]] = set()
        """Embedded payloads already analysed: (buffer id, start, length)."""
        self._seen: set[tuple[object, ...]] = set()
        self._verdict = lru_cache(maxsize=4096)(self._classify)
        self._views: list[View] = []
        """Zips, tars and HDF5 files analysed so far, so that a container's
        polyglot views skip what its own members already are."""

    # -- findings ------------------------------------------------------------
    @staticmethod
    def member_name(loc: Location) -> str | None:
        return "!".join(loc) if loc else None

    def add(
        self,
        rule_id: str,
        loc: Location,
        offset: int | None,
        evidence: str,
        *,
        message: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        key = (rule_id, loc, offset, evidence)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(
            rule(rule_id).finding(
                self.path,
                self.member_name(loc),
                offset,
                evidence,
                message=message,
                severity=severity,
            )
        )

    def sibling_exists(self, member_name: str, relative: str) -> bool | None:
        """Whether ``relative`` exists next to the file (None inside archives)."""
        if self.fs_path is None or member_name != self.path:
            return None
        return (self.fs_path.parent / relative).exists()

    # -- policy --------------------------------------------------------------
    def _classify(self, module: str, name: str) -> GlobalVerdict:
        return classify_global(module, name, self.allow)

    def verdict(self, module: str, name: str) -> GlobalVerdict:
        return self._verdict(module, name)

    def is_interesting(self, module: str, name: str) -> bool:
        return self._verdict(module, name).status != "allowed"

    @contextmanager
    def allowing(self, names: Iterable[str]) -> Iterator[None]:
        """Vouch for ``module.name`` globals while analysing one container.

        A TorchScript archive defines its own ``__torch__.*`` classes in its
        ``code/``; inside that archive a pickle naming them refers to code that
        is analysed on its own, so they are not "unknown" there.
        """
        extra = frozenset(names) - self.allow
        if not extra:
            yield
            return
        saved = self.allow
        self.allow = saved | extra
        self._verdict.cache_clear()
        try:
            yield
        finally:
            self.allow = saved
            self._verdict.cache_clear()

    # -- budgets -------------------------------------------------------------
    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            self.timed_out = True
            raise ArtifactLimitError(
                "max_file_seconds",
                f"analysis took longer than max_file_seconds={self.limits.max_file_seconds:g}",
            )

    def charge_read(self, n: int) -> None:
        self.read_bytes += n
        if self.read_bytes > self.limits.max_read_bytes:
            raise ArtifactLimitError(
                "max_read_bytes",
                f"more than max_read_bytes={self.limits.max_read_bytes} bytes examined",
            )

    def expansion_charger(self) -> Callable[[int, int], None]:
        """A ``charge(produced, consumed)`` callback enforcing size and ratio limits."""
        base = self.expanded
        limits = self.limits

        def charge(produced: int, consumed: int) -> None:
            self.expanded = base + produced
            if self.expanded > limits.max_expanded_bytes:
                raise ArtifactLimitError(
                    "max_expanded_bytes",
                    f"decompressed data exceeds max_expanded_bytes={limits.max_expanded_bytes}",
                )
            if produced > RATIO_FLOOR and produced > limits.max_ratio * max(consumed, 1):
                raise ArtifactLimitError(
                    "max_ratio",
                    f"{produced} bytes from {consumed} compressed bytes: ratio above "
                    f"max_ratio={limits.max_ratio}",
                )

        return charge

    def limit_reached(self, exc: ArtifactLimitError, loc: Location) -> None:
        if exc.limit in _LIMIT_TO_BOMB:
            self.add("archive-bomb", loc, exc.offset, exc.message)
        else:
            self.add(
                "scan-limit-reached",
                loc,
                exc.offset,
                f"{exc.message} (setting {exc.limit})",
            )

    # -- recursion -----------------------------------------------------------
    def scan(self, blob: Blob, loc: Location, name: str) -> tuple[str, bool]:
        """Detect ``blob``'s format and analyse it; returns (format, analysed)."""
        if self.timed_out:
            return Format.UNKNOWN, False
        if len(loc) > self.limits.max_depth:
            self.add(
                "scan-limit-reached",
                loc,
                None,
                f"nesting depth {len(loc)} exceeds max_depth={self.limits.max_depth}",
            )
            return Format.UNKNOWN, False
        if loc:
            self.members += 1
        self.tick()
        mark = len(self._views)
        fmt = detect_format(blob)
        label: str = fmt
        analysed = False
        rejected = False  # the first bytes suggested a format the rest is not
        out = self._run_handler(fmt, blob, loc, name)
        if out is _NO_HANDLER:
            label = fmt
        elif out is None:
            rejected = True
            label = fallback_format(blob)
            retry = self._run_handler(label, blob, loc, name)
            if isinstance(retry, str):
                label, analysed = retry, True
        else:
            label, analysed = str(out), True
        # Magic bytes prove nothing: pickle.load runs any bytes that parse.
        # Every blob not already analysed as a pickle from its first byte is
        # run through the pickle machine too.
        if (
            fmt not in PICKLE_FORMATS
            and not self.timed_out
            and self._probe_pickle(blob, loc, probe=not rejected)
        ):
            if label in PLAIN_FORMATS:
                label, analysed = Format.PICKLE, True
            else:
                self.add(
                    "polyglot-file",
                    loc,
                    0,
                    f"detected as {label}, and its first bytes are also a pickle "
                    "that pickle.load would run",
                )
        named = self._run_named(blob, loc, name, read_as_text=label in _BY_NAME_LABELS)
        if named is not None and label in PLAIN_FORMATS:
            label, analysed = named, True
        if (
            not analysed
            and label != Format.EMPTY
            and (not loc or label in NOTEWORTHY_MEMBER_FORMATS)
        ):
            self.add("format-not-analysed", loc, None, f"detected format: {label}")
        self._record_view(blob, label.split("+", 1)[0])
        if not self.timed_out:
            self._check_polyglot(blob, loc, name, {fmt, label}, set(self._views[mark:]))
        return label, analysed or label == Format.EMPTY

    def _run_handler(self, fmt: str, blob: Blob, loc: Location, name: str) -> object:
        """The handler's label, None when the content is not ``fmt`` after all,
        or ``_NO_HANDLER``."""
        from openward.scanning.formats import get_handler

        handler = get_handler(fmt)
        if handler is None:
            return _NO_HANDLER
        try:
            return handler(self, blob, loc, name)
        except ArtifactLimitError as exc:
            self.limit_reached(exc, loc)
        except ArtifactFormatError as exc:
            # Handlers report their own damage; this is the backstop.
            self.add("archive-malformed", loc, exc.offset, exc.message)
        return fmt

    def _run_named(self, blob: Blob, loc: Location, name: str, *, read_as_text: bool) -> str | None:
        """Rules for files a loader finds by name (Keras configs, ``keras_metadata.pb``,
        tokenizer and model configs, templates, Python), whatever their bytes look
        like; the format label they establish, if any."""
        from openward.scanning.formats import get_named_handlers

        label = None
        for handler in get_named_handlers(name, read_as_text=read_as_text):
            if self.timed_out:
                break
            try:
                label = handler(self, blob, loc, name) or label
            except ArtifactLimitError as exc:
                self.limit_reached(exc, loc)
            except ArtifactFormatError as exc:
                self.add("archive-malformed", loc, exc.offset, exc.message)
        return label

    def _probe_pickle(self, blob: Blob, loc: Location, *, probe: bool) -> bool:
        """Analyse ``blob`` as a pickle candidate; True when that produced findings.

        ``probe`` says the bytes are known to be another format, so a
        persistent id in the first stream ends it (as in ``pickle.load``).
        """
        from openward.scanning.formats.pickle import scan_pickle_streams

        before = len(self.findings)
        try:
            scan_pickle_streams(self, blob, loc, candidate=True, probe=probe)
        except ArtifactLimitError as exc:
            self.limit_reached(exc, loc)
        return len(self.findings) > before

    def _record_view(self, blob: Blob, label: str) -> None:
        """Note that ``blob`` was analysed as a zip, tar or HDF5 file."""
        key = id(blob.buffer)
        if label in ZIP_LABELS:
            eocd = find_end_of_central_directory(blob)
            if eocd >= 0:
                self._views.append(("zip", key, blob.start + eocd))
        elif label in TAR_LABELS:
            self._views.append(("tar", key, blob.start))
        elif label in HDF5_LABELS:
            offset = hdf5_superblock_offset(blob)
            if offset is not None:
                self._views.append(("hdf5", key, blob.start + offset))

    def _check_polyglot(
        self, blob: Blob, loc: Location, name: str, labels: set[str], done: set[View]
    ) -> None:
        """The other views loaders take of the same bytes, containers included.

        A pickle with a zip appended, a text file that is also a tar
        (``torch.load`` tries tar first), an archive with a zip appended, an
        HDF5 superblock after a user block, a protobuf model behind another
        format's magic: different loaders open different views, so every view
        is analysed. ``done`` holds what this blob's own analysis already
        covered (the blob itself, or a member of it that is the same bytes),
        which is not analysed twice.
        """
        key = id(blob.buffer)
        if blob.size >= 22:
            eocd = find_end_of_central_directory(blob)
            if eocd >= 0 and ("zip", key, blob.start + eocd) not in done:
                from openward.scanning.formats.zip import scan_zip_view

                self._views.append(("zip", key, blob.start + eocd))
                scan_zip_view(self, blob, loc, name, host=labels)
        if ("tar", key, blob.start) not in done and looks_like_tar(blob):
            from openward.scanning.formats.tar import scan_tar

            self._views.append(("tar", key, blob.start))
            self.add("polyglot-file", loc, 0, "the file is also a valid tar archive")
            try:
                scan_tar(self, blob, (*loc, "<tar view>"), name)
            except ArtifactLimitError as exc:
                self.limit_reached(exc, loc)
        superblock = hdf5_superblock_offset(blob)
        if superblock is not None and ("hdf5", key, blob.start + superblock) not in done:
            self._views.append(("hdf5", key, blob.start + superblock))
            self.add(
                "polyglot-file",
                loc,
                superblock,
                f"an HDF5 superblock at byte {superblock}: h5py and Keras open the file as HDF5",
            )
            self._run_handler(Format.HDF5, blob, (*loc, "<hdf5 view>"), name)
        models = protobuf_models(blob)
        if Format.ONNX in models and not labels & ONNX_LABELS:
            self._protobuf_view(Format.ONNX, blob, (*loc, "<onnx view>"), name, "an ONNX model")
        if Format.TF_SAVED_MODEL in models and not labels & SAVED_MODEL_LABELS:
            self._protobuf_view(
                Format.TF_SAVED_MODEL, blob, (*loc, "<saved-model view>"), name, "a SavedModel"
            )

    def _protobuf_view(self, fmt: str, blob: Blob, loc: Location, name: str, what: str) -> None:
        """Analyse ``blob`` as a protobuf model; the polyglot is reported only
        when the reader confirms the model."""
        if isinstance(self._run_handler(fmt, blob, loc, name), str):
            self.add("polyglot-file", loc[:-1], 0, f"the file also parses as {what}")
