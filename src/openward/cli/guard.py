"""``openward guard``: the monitoring proxy, its offline check and its event log.

Forms (contracts, driven by scripts exactly as written):

- ``openward guard --upstream URL [--host H] [--port P] [--policy guard.yaml]``  serve
- ``openward guard check [--policy guard.yaml] [FILE|-]``  request bodies (JSONL) -> one
  ``{"action", "detections": [{"detector", "kind", "score"}]}`` per line
- ``openward guard events [PATH] [--json]``  summarise the event log

``guard`` is a group whose default command is ``serve``: anything that is not a subcommand's
name is handed to ``serve``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer
from typer._click import Context
from typer.core import TyperGroup

from openward.cli.main import _fail, _parse_size, app

if TYPE_CHECKING:
    from openward.guard.engine import Engine
    from openward.guard.policy import Policy


class _DefaultServeGroup(TyperGroup):
    """A group that runs ``serve`` when the first argument is not a subcommand."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if not args:
            args = ["serve"]
        elif args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


guard_app = typer.Typer(
    rich_markup_mode=None,
    cls=_DefaultServeGroup,
    help="A monitoring proxy in front of an OpenAI-compatible model server (the 'guard' extra).",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(guard_app, name="guard")

EVENTS_ENV = "OPENWARD_GUARD_EVENTS"
DEFAULT_EVENTS = "guard-events.jsonl"

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="The policy file (YAML); default: the built-in policy."),
]


def _policy(path: Path | None) -> Policy:
    from openward.guard.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _fail(str(exc)) from None


def _engine(policy: Policy) -> Engine:
    from openward.errors import OpenwardError
    from openward.guard.engine import Engine

    try:
        return Engine(policy)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None


@guard_app.command("serve")
def serve(
    upstream: Annotated[
        str, typer.Option("--upstream", help="The OpenAI-compatible server to guard (base URL).")
    ],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
    policy_path: PolicyOption = None,
    max_body: Annotated[
        str | None,
        typer.Option("--max-body", help="Largest request body (e.g. 1M); default the policy's."),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option("--events", help="Write one JSON event per finding here (JSONL)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Guard processes on this port (stateless; share usage state through "
            "OPENWARD_GUARD_REDIS, metrics through PROMETHEUS_MULTIPROC_DIR).",
        ),
    ] = 1,
) -> None:
    """Serve the guard: requests are checked, forwarded upstream, responses scanned.

    Client API keys map to identities in the policy; ``OPENWARD_GUARD_UPSTREAM_KEY`` is the
    key sent upstream; ``OPENWARD_GUARD_REDIS`` (redis://...) shares usage state between
    guard processes."""
    try:
        import uvicorn

        from openward.guard.proxy import SERVE_ENV, build_app, upstream_base
    except ImportError as exc:
        raise _fail(f"the guard needs its extra: pip install 'openward[guard]' ({exc})") from None
    from openward.errors import OpenwardError

    try:
        upstream_base(upstream)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings: dict[str, Any] = {
        "upstream": upstream,
        "policy": str(policy_path) if policy_path is not None else None,
        "max_body_bytes": _parse_size(max_body) if max_body is not None else None,
        "events": str(events) if events is not None else None,
    }
    try:  # built once here even with several workers: a bad policy stops the start
        application = build_app(**settings)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"openward guard: http://{host}:{port} -> {upstream}", err=True)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
    }
    if workers == 1:
        uvicorn.run(application, **common)
        return
    if not os.environ.get("OPENWARD_GUARD_REDIS"):
        typer.echo(
            "openward guard: each worker keeps its own usage counters "
            "(set OPENWARD_GUARD_REDIS to share them)",
            err=True,
        )
    os.environ[SERVE_ENV] = json.dumps(settings)
    uvicorn.run("openward.guard.proxy:app_from_env", factory=True, workers=workers, **common)


def _lines(file: str) -> Iterator[str]:
    if file == "-":
        yield from sys.stdin
        return
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            yield from handle
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None


def check_lines(lines: Iterable[str], engine: Engine, out: TextIO, err: TextIO) -> int:
    """One result line per non-blank input line; returns how many lines were malformed."""
    from openward.guard.engine import Endpoint, RequestError, collapse, parse_request

    bad = 0
    untrusted = engine.policy.untrusted
    ctx = engine.context("anonymous")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                body = json.loads(line)
            except (ValueError, RecursionError):
                raise RequestError(400, "not a JSON object") from None
            if not isinstance(body, dict):
                raise RequestError(400, "not a JSON object")
            endpoint: Endpoint = "completions" if "prompt" in body else "chat"
            parsed = parse_request(endpoint, line, untrusted, engine.policy.allowed_fields)
        except RequestError as exc:
            bad += 1
            err.write(f"openward: error: line {number}: {exc.message}\n")
            out.write(json.dumps({"error": exc.message, "line": number}) + "\n")
            continue
        decision = engine.decide(parsed, engine.inspect_request(parsed, ctx))
        result: dict[str, Any] = {
            "action": decision.action,
            "detections": [f.public() for f in collapse(decision.findings)],
        }
        if decision.action == "redact":
            result["request"] = decision.body
        if decision.reason:
            result["reason"] = decision.reason
        out.write(json.dumps(result) + "\n")
        out.flush()
    return bad


@guard_app.command("check")
def check(
    file: Annotated[
        str,
        typer.Argument(
            help="JSONL of chat-completion (or completion) request bodies; - for stdin."
        ),
    ] = "-",
    policy_path: PolicyOption = None,
) -> None:
    """Run the input detectors offline: one JSON result per request line,
    {"action", "detections": [{"detector", "kind", "score"}]}. A malformed line gets
    {"error": ...} in its place, and the exit status is 2."""
    engine = _engine(_policy(policy_path))
    bad = check_lines(_lines(file), engine, sys.stdout, sys.stderr)
    if bad:
        raise typer.Exit(2)


@guard_app.command("events")
def events_summary(
    path: Annotated[
        str | None,
        typer.Argument(help=f"The event log (default ${EVENTS_ENV} or {DEFAULT_EVENTS})."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only events since a time (RFC 3339) or for a duration (2h)."),
    ] = None,
    identity: Annotated[
        str | None, typer.Option("--identity", help="Only the events of this identity.")
    ] = None,
) -> None:
    """Summarise the guard's event log: events by detector, kind, action and identity."""
    from openward.guard.events import render_summary, summarise

    target = Path(path or os.environ.get(EVENTS_ENV) or DEFAULT_EVENTS)
    try:
        summary = summarise(target, since=since, identity=identity)
    except FileNotFoundError:
        raise _fail(f"no event log at {target}") from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot read {target}: {exc.strerror}") from None
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(render_summary(summary), nl=False)
