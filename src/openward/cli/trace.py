"""`openward trace`: which grant's per-recipient mark a copy of a model carries.

Registered on the main Typer app by ``cli.main``. The copy's markable weight files are
uploaded to the registry, which holds the grant keys and the original and answers
(:func:`openward.registry.marks.trace_suspect`); the keys never leave it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from openward.cli.main import _client, app

__all__ = ["trace"]


@app.command("trace")
def trace(
    model: Annotated[Path, typer.Argument(help="The suspect copy: a model folder or file.")],
    ref: Annotated[str, typer.Argument(help="ORG/NAME of the registry model it may be cut from.")],
    registry: Annotated[
        str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Which recipient's copy of ORG/NAME is MODEL? Publishers of the model and admins:
    the registry tests the mark of every grant the model had (each with its p-value,
    the probability of a mark this strong in a copy without it) and logs the trace.

    JSON: {"matches": [{"grant", "user", "p_value", ...}]} (empty: no mark found).
    Exit status: 0 no recipient's mark found, 1 a recipient's mark found, 2 error
    (including "not a copy of this model": weights of another architecture).
    """
    from openward.errors import OpenwardError

    org, _, name = ref.partition("/")
    if not org or not name or "/" in name or ":" in name:
        raise typer.BadParameter(f"{ref!r}: expected ORG/NAME", param_hint="REF")
    if not model.exists():
        typer.echo(f"openward: {model}: no such file or directory", err=True)
        raise typer.Exit(2)
    client = _client(registry, token)
    try:
        result: dict[str, Any] = client.trace(model, ref)  # type: ignore[attr-defined]
    except (OpenwardError, OSError) as exc:
        message = str(exc)
        if "not a copy of this model" in message:
            message = f"{model}: not a copy of this model ({ref})"
        typer.echo(f"openward: {message}", err=True)
        raise typer.Exit(2) from None
    matches = result.get("matches") or []
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    elif not matches:
        typer.echo(f"no recipient's mark found in {model} ({ref}:{result.get('version')}, "
                   f"{result.get('grants_tested')} grants tested)")  # fmt: skip
    else:
        for m in matches:
            who = m.get("user") or f"organisation {m.get('organisation')}"
            state = " (revoked since)" if m.get("revoked") else ""
            typer.echo(f"{model} is the copy of grant #{m['grant']} to {who}{state}: "
                       f"{_p_text(m['p_value'])} (z = {m.get('z', 0.0):.1f}), "
                       f"{ref}:{result.get('version')}")  # fmt: skip
    raise typer.Exit(1 if matches else 0)


def _p_text(p: float) -> str:
    """The p-value as text; one below the smallest double (the bound underflows) is said so."""
    return f"p = {p:.2e}" if p > 0 else "p < 1e-300"
