"""Account commands: `registry init` (the first admin, without a server), users' roles
(`registry user set-role/show/list`) and `registry key challenge`. Registered on the
main Typer app by ``cli.main``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from openward.cli.main import _admin_call, _client, _fail, key_app, registry_app

RegistryOpt = Annotated[str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")]
TokenOpt = Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

user_app = typer.Typer(
    rich_markup_mode=None, help="Users and their roles (admins).", no_args_is_help=True
)
registry_app.add_typer(user_app, name="user")


@registry_app.command("init")
def registry_init(
    data: Annotated[Path, typer.Option(help="Data directory: database and blobs.")] = Path(
        "openward-data"
    ),
    json_out: Annotated[
        bool, typer.Option("--json", help='Print {"admin_token": …} as JSON.')
    ] = False,
) -> None:
    """Set a registry up without starting it: the data directory, the database schema,
    the registry's signing key and the first admin, whose token is printed once. Reads
    the same OPENWARD_* settings as `serve` (OPENWARD_DATABASE_URL, OPENWARD_BLOB_URL,
    OPENWARD_REGISTRY_KEY…). Fails (exit 2) if the registry has an admin already;
    `serve` then creates no other."""
    try:
        from openward.registry.bootstrap import AdminExists, init_registry
    except ImportError:
        raise _fail("the registry needs its extra: pip install 'openward[registry]'") from None
    from openward.errors import OpenwardError
    from openward.registry.config import settings_from_env

    try:
        result = init_registry(settings_from_env(data=data.resolve()))
    except AdminExists as exc:
        raise _fail(str(exc)) from None
    except (OpenwardError, OSError, ValueError) as exc:
        raise _fail(f"cannot set the registry up: {exc}") from None
    if json_out:
        typer.echo(json.dumps({"admin_token": result.admin_token, "user": result.admin,
                               "database": result.database}))  # fmt: skip
    else:
        typer.echo(f"registry set up ({result.database}); first admin token (shown once, "
                   f"keep it): {result.admin_token}")  # fmt: skip


def _roles_text(doc: dict[str, Any]) -> str:
    flags = [r for r in ("admin", "reviewer") if doc.get(r)]
    orgs = ", ".join(f"{role} of {org}" for org, role in (doc.get("organisations") or {}).items())
    parts = [*flags, orgs] if orgs else flags
    text = f"{doc['name']}: {'; '.join(parts) or 'no roles (reads what is open)'}"
    if doc.get("scope"):
        text += f" (this token's scope: {doc['scope']})"
    return text


@user_app.command("set-role")
def user_set_role(
    user: Annotated[str, typer.Argument(help="The user.")],
    organisation: Annotated[
        str | None, typer.Option("--org", help="Organisation the --role applies to.")
    ] = None,
    role: Annotated[
        str | None, typer.Option(help="publisher, reader, or none (ends the membership).")
    ] = None,
    admin: Annotated[
        bool | None, typer.Option("--admin/--no-admin", help="Make or unmake an admin.")
    ] = None,
    reviewer: Annotated[
        bool | None,
        typer.Option("--reviewer/--no-reviewer", help="Make or unmake a reviewer."),
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a user's roles (admins). Every change is logged (`role-changed`) and
    applies to all of the user's tokens at once; the last admin cannot be unmade."""
    body: dict[str, object] = {"admin": admin, "reviewer": reviewer,
                               "organisation": organisation, "role": role}  # fmt: skip
    result = _admin_call("PUT", f"/api/v1/users/{user}/roles", registry, token, body)
    typer.echo(json.dumps(result, indent=2) if json_out else _roles_text(result))


@user_app.command("show")
def user_show(
    user: Annotated[
        str | None, typer.Argument(help="The user (admins); without it, your own token.")
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A user's roles; without a name, who your token acts as (and its scope)."""
    path = f"/api/v1/users/{user}" if user else "/api/v1/whoami"
    result = _admin_call("GET", path, registry, token)
    typer.echo(json.dumps(result, indent=2) if json_out else _roles_text(result))


@user_app.command("list")
def user_list(registry: RegistryOpt = None, token: TokenOpt = None,
              json_out: JsonOpt = False) -> None:  # fmt: skip
    """Every user and their roles (admins)."""
    result = _admin_call("GET", "/api/v1/users", registry, token)
    rows = result["users"]
    assert isinstance(rows, list)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for doc in rows:
        typer.echo(_roles_text(doc))


@key_app.command("challenge")
def key_challenge(registry: RegistryOpt = None, token: TokenOpt = None,
                  json_out: JsonOpt = False) -> None:  # fmt: skip
    """A challenge to sign where your private key lives (an HSM, another machine):
    sign the bytes of its `message` (e.g. `printf %s "$MESSAGE" | openssl dgst -sha256
    -sign key.pem | base64 -w0`), then `registry key add PUB.pem --challenge C
    --signature S`. It expires in ten minutes."""
    from openward.registry.client import ClientError

    client = _client(registry, token)
    try:
        # The message is built here from the challenge, never copied from the server.
        result = client.key_challenge()  # type: ignore[attr-defined]
    except ClientError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(f"challenge: {result['challenge']}")
        typer.echo("sign exactly these bytes (UTF-8, no trailing newline):")
        typer.echo(str(result["message"]))
