"""Pickle streams: bare pickles, concatenated pickles, joblib files.

Every stream in the data is analysed, not only the first: loaders such as
legacy ``torch.load`` and joblib read several, and a payload in the second
stream runs as surely as one in the first.
"""

from __future__ import annotations

from typing import Final

from openward.artifacts.blob import Blob
from openward.scanning.context import Location, ScanContext
from openward.scanning.interface import Severity
from openward.scanning.pickle_policy import GlobalVerdict, state_problem
from openward.scanning.pickle_vm import (
    GlobalUse,
    PickleEvent,
    PickleStreamResult,
    merge_results,
    run_pickle,
)

__all__ = ["report_stream", "run_stream", "scan_pickle", "scan_pickle_streams"]

_MAX_EMBEDDED_SCANS = 1024
"""Embedded payloads analysed per top-level file."""

_EVENT_RULES = {
    "dynamic-global": "pickle-dynamic-global",
    "computed-call": "pickle-computed-call",
    "build-on-global": "pickle-build-on-global",
    "build-dunder": "pickle-build-dunder",
    "ext-code": "pickle-extension-code",
    "frame-split": "pickle-loader-divergence",
    "side-file": "pickle-side-file",
}


def run_stream(
    ctx: ScanContext,
    blob: Blob,
    start: int,
    *,
    keep: int | None = None,
    persistent: bool = True,
) -> PickleStreamResult:
    """Run one stream under the context's limits and charge what it read.

    A stream with joblib arrays is read twice: as joblib reads it (array
    bytes skipped) and as ``pickle.load`` or ``torch.load`` read it (array
    bytes parsed as opcodes). What either reading names is reported; the
    joblib reading decides where the stream ends.
    """
    res = run_pickle(
        blob,
        start,
        max_opcodes=ctx.limits.max_pickle_opcodes,
        tick=ctx.tick,
        interesting=ctx.is_interesting,
        keep=keep,
        persistent=persistent,
    )
    ctx.charge_read(max(0, res.end - start))
    if res.frame_split is not None:
        # torch.load reads a zip's data.pkl from a BytesIO: what it sees after a
        # split frame is not what pickle.loads sees. Analyse both readings.
        from_file = run_pickle(
            blob,
            start,
            max_opcodes=ctx.limits.max_pickle_opcodes,
            tick=ctx.tick,
            interesting=ctx.is_interesting,
            keep=keep,
            persistent=persistent,
            joblib_arrays=False,
            file_mode=True,
        )
        ctx.charge_read(max(0, from_file.end - start))
        if _differs(res, from_file):
            _report_split(res, from_file)
    if res.inline_arrays:
        plain = run_pickle(
            blob,
            start,
            max_opcodes=ctx.limits.max_pickle_opcodes,
            tick=ctx.tick,
            interesting=ctx.is_interesting,
            persistent=persistent,
            joblib_arrays=False,
        )
        merge_results(res, plain)
    return res


def _differs(res: PickleStreamResult, other: PickleStreamResult) -> bool:
    return (
        other.opcodes != res.opcodes
        or other.complete != res.complete
        or other.globals.keys() != res.globals.keys()
        or len(other.events) != len(res.events)
    )


def _report_split(res: PickleStreamResult, from_file: PickleStreamResult) -> None:
    """Keep what the file reading names and does, and say why there are two readings."""
    merge_results(res, from_file)
    split = res.frame_split if res.frame_split is not None else res.start
    outcome = (
        f"; the file reading completes after {from_file.opcodes} opcodes"
        if from_file.complete
        else f"; the file reading ends in: {from_file.error.message}"
        if from_file.error is not None
        else ""
    )
    res.events.append(
        PickleEvent(
            "frame-split",
            split,
            "an opcode straddles the end of a FRAME: a loader reading from a file "
            "object (torch.load of a zip) reads different opcodes from here on than "
            "pickle.loads does" + outcome,
        )
    )
    if from_file.complete and not res.complete and not (res.error and res.error.severe):
        # The loader that matters here reaches STOP: the stream is a pickle.
        res.complete = True
        res.error = None
        res.end = from_file.end


def _unvouched_hooks(verdict: GlobalVerdict, use: GlobalUse) -> list[str]:
    """Methods of a trusted class's instances that the stream drives and that the
    trust list found unsafe (a ``__setattr__`` that acts on what it is given, ...)."""
    entry = verdict.trusted
    unsafe = getattr(entry, "unsafe_hooks", ())
    return sorted(use.hooks & set(unsafe)) if verdict.status == "allowed" else []


def _how_used(use: GlobalUse) -> str:
    parts = []
    if use.calls:
        parts.append(f"called {use.calls}x")
    if use.instantiations:
        parts.append(f"instantiated {use.instantiations}x without __init__")
    return ", ".join(parts) or "imported, never called"


def report_stream(
    ctx: ScanContext, blob: Blob, loc: Location, res: PickleStreamResult, *, expected: bool = True
) -> None:
    """Turn what a stream names and does into findings; scan embedded payloads.

    ``expected`` says a loader opens these bytes as a pickle (a PROTO header,
    a pickle's file name, a torch checkpoint's record): a stream that breaks
    there is suspicious, where bytes merely probed as a pickle that break
    early are just not one.
    """
    for use in res.globals.values():
        verdict = ctx.verdict(use.module, use.name)
        dotted = f"{use.module}.{use.name}"
        how = _how_used(use)
        evidence = use.call_evidence or f"{dotted} ({use.via})"
        hooks = _unvouched_hooks(verdict, use)
        if hooks:
            ctx.add(
                "pickle-unlisted-global",
                loc,
                use.offset,
                evidence,
                message=f"Pickle drives {', '.join(hooks)} of {dotted} instances ({how}): "
                "the allowlist vouches for creating it from its state, not for these methods",
            )
            continue
        if verdict.status == "allowed" and not (verdict.construct_only and use.calls):
            continue
        if (
            verdict.status == "unlisted"
            and not use.calls
            and not use.hooks
            and use.instantiations
            and state_problem(use.module, use.name, use.states) is None
        ):
            continue  # a class safe with the states this stream gives it
        if verdict.status == "dangerous":
            ctx.add(
                "pickle-dangerous-global",
                loc,
                use.offset,
                evidence,
                message=f"Pickle imports {dotted} ({how}): {verdict.reason}",
            )
        elif verdict.status == "allowed":
            ctx.add(
                "pickle-unlisted-global",
                loc,
                use.offset,
                evidence,
                message=f"Pickle calls {dotted} with arguments ({how}): the allowlist vouches "
                "for creating it from its state, not for running its __init__",
            )
        elif use.calls or use.instantiations:
            problem = state_problem(use.module, use.name, use.states)
            why = (
                "which is not on the allowlist"
                if problem in (None, "no state check")
                else f"which is safe only with the states its library writes: {problem}"
            )
            ctx.add(
                "pickle-unlisted-global",
                loc,
                use.offset,
                evidence,
                message=f"Pickle imports {dotted} ({how}), {why}",
            )
        else:
            ctx.add(
                "pickle-global-reference",
                loc,
                use.offset,
                evidence,
                message=f"Pickle imports {dotted} ({how}), which is not on the allowlist",
            )
    for ev in res.events:
        severity = None
        if ev.kind == "ext-code" and not (expected or res.ran_code):
            # Bytes merely probed as a pickle (msgpack maps start 0x82-0x84):
            # CPython stops at an unregistered code, and nothing registers any.
            severity = Severity.LOW
        ctx.add(_EVENT_RULES[ev.kind], loc, ev.offset, ev.evidence, severity=severity)
    if res.error is not None:
        if res.error.severe:
            severity = Severity.HIGH
        elif (expected and res.opcodes > 2) or res.ran_code or res.globals:
            severity = Severity.MEDIUM  # a loader would open it and run up to the break
        else:
            severity = Severity.LOW
        ctx.add(
            "pickle-malformed",
            loc,
            res.error.offset,
            f"{res.error.message} (after {res.opcodes} opcodes)"
            + ("; the rest of the stream could not be analysed" if res.error.severe else ""),
            severity=severity,
        )
    for emb in res.embedded:
        module, name = emb.callee
        span = emb.span
        key = (id(blob.buffer), blob.start + span.start, span.length)
        if key in ctx.embedded_seen or len(ctx.embedded_seen) >= _MAX_EMBEDDED_SCANS:
            continue  # the same bytes passed again: analysed once
        ctx.embedded_seen.add(key)
        child = blob.window(span.start, span.length)
        label = f"<bytes passed to {module}.{name} at byte {span.start}>"
        ctx.scan(child, (*loc, label), label)


_PICKLE_SUFFIXES: Final = (
    ".pkl", ".pickle", ".pck", ".pcl", ".p", ".pt", ".pth", ".ckpt", ".joblib", ".jbl", ".sav",
)  # fmt: skip
"""File names that tell a user to open the file with a pickle loader."""


def loader_named(name: str) -> bool:
    """Whether ``name`` (a path or member name) is a pickle loader's file name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    return base.endswith(_PICKLE_SUFFIXES) or base.endswith(".pth.tar")


def _behaves_like_pickle(ctx: ScanContext, res: PickleStreamResult) -> bool:
    """What CPython's unpickler would make of bytes not known to be a pickle.

    They are one when the unpickler would reach STOP with a value, call or
    instantiate something, or import a known-dangerous global before giving
    up. Bytes that only push data, or name a global and then break (a text
    file that starts ``cat\\ndog\\n``), are not: nothing a loader could be
    tricked into running is in them.
    """
    if res.ran_code:
        return True
    return any(
        ctx.verdict(use.module, use.name).status == "dangerous" for use in res.globals.values()
    )


def scan_pickle_streams(
    ctx: ScanContext,
    blob: Blob,
    loc: Location,
    start: int = 0,
    *,
    candidate: bool,
    probe: bool = False,
    name: str = "",
) -> tuple[int, int]:
    """Analyse consecutive streams from ``start``; returns (streams, joblib arrays).

    A candidate whose first stream does not behave like a pickle (see
    :func:`_behaves_like_pickle`) yields (0, 0) and no findings, unless its
    name says a pickle loader opens it. ``probe`` marks bytes detected as some
    other format.
    """
    expected = not candidate or (not probe and loader_named(name))
    pos = start
    streams = 0
    arrays = 0
    while pos < blob.size:
        # pickle.load has no persistent_load: a probe of bytes that are not
        # known to be a pickle ends at a persistent id in its first stream.
        res = run_stream(ctx, blob, pos, persistent=not (probe and streams == 0))
        if not (expected and streams == 0) and not _behaves_like_pickle(ctx, res):
            if streams > 0:
                ctx.add(
                    "pickle-trailing-data",
                    loc,
                    pos,
                    f"{blob.size - pos} bytes after {streams} pickle stream(s)",
                )
            break
        report_stream(ctx, blob, loc, res, expected=expected and streams == 0)
        streams += 1
        arrays += res.inline_arrays
        if not res.complete:
            break
        pos = res.end
    return streams, arrays


def scan_trailing(ctx: ScanContext, blob: Blob, loc: Location, pos: int, what: str) -> None:
    """Bytes after the last stream a loader reads: analysed as possible pickles,
    otherwise noted as trailing data."""
    if pos >= blob.size:
        return
    streams, _ = scan_pickle_streams(ctx, blob, loc, pos, candidate=True)
    if streams == 0:
        ctx.add("pickle-trailing-data", loc, pos, f"{blob.size - pos} bytes after {what}")


def scan_pickle(
    ctx: ScanContext, blob: Blob, loc: Location, name: str, *, candidate: bool
) -> str | None:
    streams, arrays = scan_pickle_streams(ctx, blob, loc, candidate=candidate, name=name)
    if streams == 0:
        return None
    return "joblib" if arrays else "pickle"
