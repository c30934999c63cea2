"""Governance commands: access tiers and requests, registration and review,
takedowns and advisories, key revocation, the transparency log, and `openward check`
for copies already on disk. Registered on the main Typer app by ``cli.main``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from openward.cli.main import _admin_call, _fail, app, key_app, registry_app, token_app

RegistryOpt = Annotated[str | None, typer.Option(help="Registry URL (or OPENWARD_REGISTRY).")]
TokenOpt = Annotated[str | None, typer.Option(help="API token (or OPENWARD_TOKEN).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

access_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                         help="Access tiers, requests and grants of models.")  # fmt: skip
registry_app.add_typer(access_app, name="access")
user_access_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                              help="Ask for access to a gated or restricted model.")  # fmt: skip
app.add_typer(user_access_app, name="access")
log_app = typer.Typer(
    rich_markup_mode=None, help="The registry's transparency log.", no_args_is_help=True
)
registry_app.add_typer(log_app, name="log")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _echo(text: str) -> None:
    """Print text that may carry what others wrote (reasons, records, paths) without
    letting control characters drive the terminal."""
    typer.echo(_CONTROL.sub("\N{REPLACEMENT CHARACTER}", text))


def _model_ref(ref: str) -> tuple[str, str]:
    org, _, name = ref.partition("/")
    if not org or not name or ":" in name or "/" in name:
        raise _fail(f"{ref!r}: expected ORG/NAME")
    return org, name


def _version_ref(ref: str) -> tuple[str, str, str]:
    model, _, version = ref.partition(":")
    org, name = _model_ref(model)
    if not version:
        raise _fail(f"{ref!r}: expected ORG/NAME:VERSION")
    return org, name, version


def _out(result: Any, json_out: bool, text: str) -> None:
    _echo(json.dumps(result, indent=2) if json_out else text)


# -- access ---------------------------------------------------------------------
@access_app.command("set")
def access_set(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    tier: Annotated[str, typer.Option(help="open, gated or restricted.")],
    field: Annotated[
        list[str] | None,
        typer.Option("--field", help="A field access requests must give (repeat; gated)."),
    ] = None,
    watermark: Annotated[
        str | None,
        typer.Option(
            help="per-recipient: each grantee downloads a copy marked for their "
            "grant (gated or restricted), traced with `openward trace`; none: "
            "the original for everyone. Unset: unchanged."
        ),
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a model's access tier (its publishers or an admin), within what the policy
    allows for its compute tier, and whether its grantees get copies marked per
    recipient."""
    org, name = _model_ref(ref)
    if watermark is not None and watermark not in ("none", "per-recipient"):
        raise _fail("--watermark is none or per-recipient")
    body: dict[str, object] = {"tier": tier, "fields": field or None}
    if watermark is not None:
        body["watermark"] = watermark
    result = _admin_call("PUT", f"/api/v1/models/{org}/{name}/access", registry, token, body)
    marks = result.get("watermark", "none")
    _out(
        result,
        json_out,
        f"{ref} is {result['tier']} (fields: {', '.join(result['fields'])}"  # type: ignore[arg-type]
        + ("; weights marked per recipient" if marks == "per-recipient" else "")
        + ")",
    )
    for warning in result.get("warnings") or []:  # type: ignore[attr-defined]
        typer.echo(f"warning: {_CONTROL.sub(chr(0xFFFD), str(warning))}", err=True)


@access_app.command("show")
def access_show(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A model's tier, its pending requests and its grants."""
    org, name = _model_ref(ref)
    result = _admin_call("GET", f"/api/v1/models/{org}/{name}/access", registry, token)
    if json_out:
        _out(result, True, "")
        return
    _echo(f"{ref}: {result['tier']} (policy minimum: {result['minimum_tier']}, "
               f"{result['minimum_reason']})")  # fmt: skip
    _echo(f"  watermark: {result.get('watermark', 'none')}")
    for r in result.get("requests") or []:  # type: ignore[attr-defined]
        _echo(f"  request #{r['id']} by {r['user']}: {r['status']}  {r['fields']}")
    for g in result.get("grants") or []:  # type: ignore[attr-defined]
        who = g["user"] or f"org {g['organisation']}"
        _echo(f"  grant #{g['id']} to {who}: {g['state']}, versions "
                   f"{g['versions'] or 'all'}, expires {g['expires_at'] or 'never'}")  # fmt: skip


@access_app.command("grant")
def access_grant(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    request: Annotated[int | None, typer.Option(help="Approve this request.")] = None,
    user: Annotated[str | None, typer.Option(help="Grant a user directly.")] = None,
    org: Annotated[str | None, typer.Option("--org", help="Grant an organisation.")] = None,
    versions: Annotated[
        str | None, typer.Option(help="Comma-separated versions (default: all).")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="30d, 12h or an ISO date.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the log).")] = "",
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Approve an access request, or grant a user or an organisation (restricted
    models: admins, organisations only)."""
    o, n = _model_ref(ref)
    body: dict[str, object] = {
        "request": request, "user": user, "organisation": org, "expires": expires,
        "versions": [v.strip() for v in versions.split(",") if v.strip()] if versions else None,
        "reason": reason,
    }  # fmt: skip
    result = _admin_call("POST", f"/api/v1/models/{o}/{n}/access/grants", registry, token, body)
    who = result["user"] or f"organisation {result['organisation']}"
    _out(result, json_out, f"grant #{result['id']} on {ref} to {who} "
         f"(expires {result['expires_at'] or 'never'})")  # fmt: skip


def _pick(ref: str, kind: str, registry: str | None, token: str | None, *,
          user: str | None, org: str | None) -> list[int]:  # fmt: skip
    """Ids of the pending requests (kind "requests") or active grants ("grants") of a
    user or organisation on a model."""
    o, n = _model_ref(ref)
    overview = _admin_call("GET", f"/api/v1/models/{o}/{n}/access", registry, token)
    rows = overview.get(kind) or []
    live = "pending" if kind == "requests" else "active"

    def mine(r: dict[str, Any]) -> bool:
        return bool((user and r.get("user") == user) or (org and r.get("organisation") == org))

    ids = [int(r["id"]) for r in rows  # type: ignore[attr-defined]
           if r.get("status", r.get("state")) == live and mine(r)]  # fmt: skip
    if not ids:
        who = f"user {user}" if user else f"organisation {org}"
        raise _fail(f"no {'pending request' if kind == 'requests' else 'active grant'} of "
                    f"{who} on {ref}")  # fmt: skip
    return ids


@access_app.command("deny")
def access_deny(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    reason: Annotated[str, typer.Option(help="Why (shown to the requester).")],
    request: Annotated[int | None, typer.Option(help="The request to deny.")] = None,
    user: Annotated[str | None, typer.Option(help="Deny this user's pending request.")] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Deny an access request (by id, or the user's pending one), with a reason."""
    o, n = _model_ref(ref)
    if (request is None) == (user is None):
        raise _fail("name the request: --request ID or --user NAME")
    ids = [request] if request is not None else _pick(ref, "requests", registry, token,
                                                      user=user, org=None)  # fmt: skip
    results = [_admin_call("POST", f"/api/v1/models/{o}/{n}/access/requests/{i}/deny",
                           registry, token, {"reason": reason}) for i in ids]  # fmt: skip
    _out(results[0] if len(results) == 1 else results, json_out,
         "\n".join(f"request #{i} on {ref} denied" for i in ids))  # fmt: skip


@access_app.command("revoke")
def access_revoke(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    grant: Annotated[int | None, typer.Option(help="The grant to revoke.")] = None,
    user: Annotated[str | None, typer.Option(help="Revoke this user's grants.")] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Revoke this organisation's grants.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a grant (by id, or every active grant of a user or organisation): the
    holder's next download is refused."""
    o, n = _model_ref(ref)
    if sum(x is not None for x in (grant, user, org)) != 1:
        raise _fail("name what to revoke: --grant ID, --user NAME or --org ORG")
    ids = [grant] if grant is not None else _pick(ref, "grants", registry, token,
                                                  user=user, org=org)  # fmt: skip
    results = [_admin_call("POST", f"/api/v1/models/{o}/{n}/access/grants/{i}/revoke",
                           registry, token, {"reason": reason}) for i in ids]  # fmt: skip
    _out(results[0] if len(results) == 1 else results, json_out,
         "\n".join(f"grant #{i} on {ref} revoked" for i in ids))  # fmt: skip


@registry_app.command("downloads")
def downloads(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Who downloaded a model's files, when, with which token (its publishers)."""
    o, n = _model_ref(ref)
    result = _admin_call("GET", f"/api/v1/models/{o}/{n}/downloads", registry, token)
    rows = result["downloads"]
    if json_out:
        _out(rows, True, "")
        return
    for d in rows:  # type: ignore[attr-defined]
        _echo(f"{d['at']}  {d['user'] or 'anonymous':16} token #{d['token_id'] or '-'}  "
                   f"{ref}:{d['version']}  {d['path']}")  # fmt: skip
    if not rows:
        _echo("no downloads yet")


@user_access_app.command("request")
def access_request(
    ref: Annotated[str, typer.Argument(help="ORG/NAME")],
    organisation: Annotated[str | None, typer.Option(help="Your organisation.")] = None,
    intended_use: Annotated[str | None, typer.Option(help="What you will use it for.")] = None,
    accept_license: Annotated[
        bool, typer.Option("--accept-license", help="Accept the model's license.")
    ] = False,
    field: Annotated[
        list[str] | None, typer.Option("--field", help="Another field, KEY=VALUE (repeat).")
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Ask for access to a gated or restricted model with the fields its publisher
    asks for (`openward registry access show ORG/NAME` lists them)."""
    o, n = _model_ref(ref)
    fields: dict[str, object] = {}
    if organisation:
        fields["organisation"] = organisation
    if intended_use:
        fields["intended_use"] = intended_use
    if accept_license:
        fields["accept_license"] = True
    for item in field or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise _fail(f"--field {item!r}: expected KEY=VALUE")
        fields[key.strip()] = value
    result = _admin_call("POST", f"/api/v1/models/{o}/{n}/access/requests", registry, token,
                         {"fields": fields})  # fmt: skip
    _out(result, json_out, f"request #{result['id']} for {ref} sent; the publisher decides")


# -- registration and review ----------------------------------------------------------
@app.command("register")
def register(
    ref: Annotated[str, typer.Argument(help="ORG/NAME:VERSION held for registration.")],
    file: Annotated[Path, typer.Option("--file", help="registration.yaml (or .json).")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit the registration record of a version above the compute threshold:
    developer, training_compute {flop, method}, training_data, intended_use,
    safety_evaluations, incident_contact. A reviewer accepts or rejects it."""
    import yaml

    o, n, v = _version_ref(ref)
    try:
        record = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise _fail(f"{file} is not valid YAML: {exc}") from None
    if not isinstance(record, dict):
        raise _fail(f"{file} must hold a mapping of the registration's fields")
    record = json.loads(json.dumps(record, default=str))
    result = _admin_call("POST", f"/api/v1/models/{o}/{n}/versions/{v}/registration",
                         registry, token, {"record": record})  # fmt: skip
    text = f"registration #{result['id']} for {ref} submitted; a reviewer decides"
    for flag in result.get("flags") or []:  # type: ignore[attr-defined]
        text += f"\n  flagged for the reviewer: {flag}"
    _out(result, json_out, text)


# -- audits ---------------------------------------------------------------------------
def _rates(doc: dict[str, Any]) -> str:
    return ", ".join(f"{x['suite']} {x['success_rate'] * 100:.1f} % "
                     f"({x['interval'][0] * 100:.1f}-{x['interval'][1] * 100:.1f})"
                     for x in doc.get("suites") or [])  # fmt: skip


@registry_app.command("attest")
def attest_version(
    ref: Annotated[str, typer.Argument(help="ORG/NAME:VERSION the audit is about.")],
    attestation: Annotated[
        Path, typer.Argument(help="Signed audit (openward audit --sign, openward attest audit).")
    ],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach a signed safety audit to a version. The registry accepts it only if a
    registered key signed it and its subject is the version's digest; it is logged,
    listed on the model page, and may publish a version held for an audit."""
    o, n, v = _version_ref(ref)
    try:
        bundle = json.loads(attestation.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"cannot read {attestation}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _fail(f"{attestation} is not a JSON attestation") from None
    if not isinstance(bundle, dict):
        raise _fail(f"{attestation} is not a JSON attestation")
    result = _admin_call("POST", f"/api/v1/models/{o}/{n}/versions/{v}/audits", registry, token,
                         {"bundle": bundle})  # fmt: skip
    text = (f"audit #{result['id']} attached to {ref} ({result['verification']}); "
            f"{_rates(result)}; {ref} is {result['version_status']}")  # fmt: skip
    _out(result, json_out, text)


@registry_app.command("audits")
def list_version_audits(
    ref: Annotated[str, typer.Argument(help="ORG/NAME:VERSION")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The audits attached to a version, with their auditor and whether each verifies."""
    o, n, v = _version_ref(ref)
    rows = _admin_call("GET", f"/api/v1/models/{o}/{n}/versions/{v}/audits", registry, token)
    audits: list[dict[str, Any]] = rows["audits"]  # type: ignore[assignment]
    lines = [
        f"#{a['id']} {'verified' if a['verified'] else 'NOT VERIFIED'} by "
        f"{a['auditor']['user']}: {a['verification']}\n    {_rates(a)}"
        for a in audits
    ]
    _out(audits, json_out, "\n".join(lines) or f"no audit attached to {ref}")


@registry_app.command("review")
def review(
    registration: Annotated[
        int | None, typer.Argument(help="Registration id to decide (none: list).")
    ] = None,
    accept: Annotated[bool, typer.Option("--accept", help="Accept the registration.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the registration.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required to decide).")] = None,
    status: Annotated[str, typer.Option(help="List: pending, accepted, rejected, all.")] = (
        "pending"
    ),
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List registrations awaiting review, or decide one (reviewers and admins); the
    record and the decision are signed by the registry and logged."""
    if registration is None:
        query = "" if status == "all" else f"?status={status}"
        rows = _admin_call("GET", f"/api/v1/registrations{query}", registry, token)["registrations"]
        if json_out:
            _out(rows, True, "")
            return
        for r in rows:  # type: ignore[attr-defined]
            rec = r["record"]
            comp = rec.get("training_compute") or {}
            _echo(f"#{r['id']} {r['model']} {r['status']}: developer {rec.get('developer')}, "
                       f"declared {comp.get('flop')} FLOP ({comp.get('method')})")  # fmt: skip
            for flag in r["flags"]:
                _echo(f"    FLAG {flag}")
            for a in r.get("audits") or []:
                mark = "verified" if a["verified"] else "NOT VERIFIED"
                _echo(f"    AUDIT {a['reference']} {mark}: {a['verification']}"
                      + (f"; {_rates(a)}" if a.get("found") else ""))  # fmt: skip
        if not rows:
            _echo(f"no {status} registrations")
        return
    if accept == reject:
        raise _fail("decide with exactly one of --accept or --reject")
    if not reason:
        raise _fail("a decision needs --reason")
    result = _admin_call("POST", f"/api/v1/registrations/{registration}/decision", registry,
                         token, {"accept": accept, "reason": reason})  # fmt: skip
    _out(result, json_out, f"registration #{registration} {result['status']}: {result['model']}")


@registry_app.command("lineage-review")
def lineage_review(
    review_id: Annotated[int | None, typer.Argument(help="Review id to decide (none: list).")] = (
        None
    ),
    release: Annotated[bool, typer.Option("--release", help="Release the version.")] = False,
    quarantine: Annotated[
        bool, typer.Option("--quarantine", help="Quarantine the version.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required to decide).")] = None,
    status: Annotated[
        str, typer.Option(help="List: pending, released, quarantined, superseded, all.")
    ] = "pending",
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List versions held because their weights differ from a registered base's by a
    safety edit (the refusal direction removed), or decide one (reviewers and admins):
    released, it goes on to the verdict its checks gave otherwise; quarantined, it stays
    unavailable. Logged."""
    if review_id is None:
        query = "" if status == "all" else f"?status={status}"
        rows = _admin_call("GET", f"/api/v1/lineage/reviews{query}", registry, token)["reviews"]
        if json_out:
            _out(rows, True, "")
            return
        for r in rows:  # type: ignore[attr-defined]
            edit = (r["evidence"] or {}).get("safety_edit") or {}
            ev = edit.get("evidence") or {}
            _echo(f"#{r['id']} {r['model']} {r['status']}: {(r['evidence'] or {}).get('relation')}")
            _echo(f"    safety edit: aligned energy {ev.get('aligned_energy')}, direction "
                  f"consistency {edit.get('direction_consistency')}, layers "
                  f"{edit.get('layers')}")  # fmt: skip
        if not rows:
            _echo(f"no {status} lineage reviews")
        return
    if release == quarantine:
        raise _fail("decide with exactly one of --release or --quarantine")
    if not reason:
        raise _fail("a decision needs --reason")
    result = _admin_call("POST", f"/api/v1/lineage/reviews/{review_id}/decision", registry,
                         token, {"release": release, "reason": reason})  # fmt: skip
    _out(result, json_out, f"lineage review #{review_id} {result['status']}: {result['model']} "
         f"is now {result['version_status']}")  # fmt: skip


# -- takedowns and advisories ------------------------------------------------------------
@registry_app.command("takedown")
def takedown(
    ref: Annotated[str, typer.Argument(help="ORG/NAME:VERSION")],
    reason: Annotated[str, typer.Option(help="Why (shown with every refused download).")],
    advisory: Annotated[
        Path | None,
        typer.Option(help="YAML/JSON: severity, summary, details, versions, references."),
    ] = None,
    except_: Annotated[
        list[str] | None,
        typer.Option("--except", help="ORG/NAME:VERSION of a copy that stays served (repeat)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show which versions it would reach; change nothing.")
    ] = False,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Take a version down (admins): downloads get HTTP 451 with the reason, copies on
    disk are flagged by `openward check`, and the event is logged. Every other version
    carrying its weights (any name, any organisation) is taken down with it, except
    those named with --except, and except earlier versions of other organisations that
    published those weights first (listed: take them down by name if they are the
    reason)."""
    import yaml

    o, n, v = _version_ref(ref)
    for copy in except_ or []:
        _version_ref(copy)
    body: dict[str, object] = {"reason": reason, "exceptions": except_ or [], "dry_run": dry_run}
    if advisory is not None:
        try:
            doc = yaml.safe_load(advisory.read_text())
        except OSError as exc:
            raise _fail(f"cannot read {advisory}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise _fail(f"{advisory} is not valid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise _fail(f"{advisory} must hold a mapping")
        body["advisory"] = json.loads(json.dumps(doc, default=str))
    result = _admin_call("POST", f"/api/v1/models/{o}/{n}/versions/{v}/takedown", registry,
                         token, body)  # fmt: skip
    adv: Any = result.get("advisory")
    head = f"would take down {ref}" if dry_run else f"{ref} taken down"
    lines = [head + (f", advisory {adv['id']}" if adv else "")]
    for c in result.get("also_taken_down") or []:  # type: ignore[attr-defined]
        lines.append(
            f"  {'would also take down' if dry_run else 'also taken down'}: "
            f"{c['name']}:{c['version']} (carries {', '.join(c['files'][:3])})"
        )
    for c in result.get("exceptions") or []:  # type: ignore[attr-defined]
        lines.append(f"  excepted: {c['name']}:{c['version']}")
    for c in result.get("earlier_elsewhere") or []:  # type: ignore[attr-defined]
        lines.append(
            f"  left served: {c['name']}:{c['version']} published {', '.join(c['files'][:3])} "
            f"first; if those files are the reason, take it down too"
        )
    for c in result.get("derivatives") or []:  # type: ignore[attr-defined]
        lines.append(
            f"  left served: {c['name']}:{c['version']} was found derived from it (other "
            "weights); take it down by name if it shares the reason"
        )
    _out(result, json_out, "\n".join(lines))


@registry_app.command("takedown-exempt")
def takedown_exempt(
    ref: Annotated[str, typer.Argument(help="ORG/NAME:VERSION of the copy that stays served")],
    of: Annotated[str, typer.Option("--of", help="ORG/NAME:VERSION taken down.")],
    reason: Annotated[str, typer.Option(help="Why (logged).")],
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Except a copy from a takedown (admins): a copy the takedown reached gets back its
    verdict, a re-push held back is checked again; logged as `takedown-exception`."""
    _version_ref(ref)
    o, n, v = _version_ref(of)
    result = _admin_call("POST", f"/api/v1/models/{o}/{n}/versions/{v}/takedown/exceptions",
                         registry, token, {"version": ref, "reason": reason})  # fmt: skip
    _out(result, json_out, f"{ref} excepted from the takedown of {of}: {result['status']}")


@registry_app.command("advisories")
def advisories(
    export: Annotated[
        Path | None, typer.Option(help="Write the offline export (for check --advisories).")
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List advisories (OSV), or write the export that `openward check --advisories`
    reads offline and that mirrors serve."""
    if export is not None:
        doc = _admin_call("GET", "/api/v1/advisories/export", registry, token)
        tmp = export.with_name(export.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, export)
        _out({"path": str(export), "advisories": len(doc["advisories"]),  # type: ignore[arg-type]
              "flagged": len(doc["flagged"])}, json_out,  # type: ignore[arg-type]
             f"wrote {export}: {len(doc['advisories'])} advisories, "  # type: ignore[arg-type]
             f"{len(doc['flagged'])} flagged versions")  # type: ignore[arg-type]  # fmt: skip
        return
    rows = _admin_call("GET", "/api/v1/advisories", registry, token)["advisories"]
    if json_out:
        _out(rows, True, "")
        return
    for a in rows:  # type: ignore[attr-defined]
        aff = a["affected"][0]
        model = aff["ecosystem_specific"]["model"]
        _echo(f"{a['id']} {a['database_specific']['severity']:8} {model} "
                   f"{', '.join(aff['versions'])}: {a['summary']}")  # fmt: skip
    if not rows:
        _echo("no advisories")


@key_app.command("revoke")
def key_revoke(
    hint: Annotated[str, typer.Argument(help="The key's hint (8+ hex digits).")],
    reason: Annotated[str, typer.Option(help="Why (logged).")] = "",
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a publisher key: signatures by it on versions pushed from now on fail."""
    result = _admin_call("POST", f"/api/v1/keys/{hint}/revoke", registry, token,
                         {"reason": reason})  # fmt: skip
    _out(result, json_out, f"key {result['hint'][:16]} revoked at {result['revoked_at']}")  # type: ignore[index]


# -- transparency log --------------------------------------------------------------
def _fetcher(registry: str | None, token: str | None) -> tuple[str, Any]:
    import httpx

    from openward.registry.logverify import FetchError

    url = (registry or os.environ.get("OPENWARD_REGISTRY") or "").rstrip("/")
    if not url:
        raise _fail("no registry: give --registry URL or set OPENWARD_REGISTRY")
    client = httpx.Client(base_url=url, timeout=60)

    def fetch(path: str) -> Any:
        try:
            r = client.get(path)
        except httpx.TransportError as exc:
            raise FetchError(f"cannot reach the registry at {url}: {exc}", transport=True) from None
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text[:200]
            raise FetchError(f"{path}: HTTP {r.status_code}: {detail}")
        return r.text if path.endswith("/registry/key") else r.json()

    return url, fetch


@log_app.command("verify")
def log_verify(
    state: Annotated[
        Path | None, typer.Option(help="Where the last verified head is kept.")
    ] = None,
    audit: Annotated[
        bool, typer.Option("--audit", help="Also recompute the whole tree from every entry.")
    ] = False,
    key: Annotated[
        Path | None, typer.Option(help="The registry's public key (default: pinned on first use).")
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Prove the transparency log only grew since the last check: signed head,
    consistency proof, and the new entries hashed here. Exit 0 consistent, 1 not,
    2 when the registry cannot be asked."""
    from openward.registry.logverify import default_state_path, verify_log

    url, fetch = _fetcher(registry, token)
    pem = None
    if key is not None:
        try:
            pem = key.read_text()
        except OSError as exc:
            raise _fail(f"cannot read {key}: {exc.strerror}") from None
    result = verify_log(fetch, url, state or default_state_path(), audit=audit, key_pem=pem)
    if result.unreachable and not json_out:
        raise _fail(f"cannot check the log: {'; '.join(result.problems)}")
    if json_out:
        _out(result.as_dict(), True, "")
    elif result.ok:
        since = "first check" if result.old_size is None else f"was {result.old_size}"
        _echo(f"log consistent: {result.new_size} entries ({since}), "
                   f"{result.new_entries} new entries verified"
                   + (", full audit passed" if result.audited else ""))  # fmt: skip
    else:
        for p in result.problems:
            _echo(f"INCONSISTENT: {p}")
    raise typer.Exit(0 if result.ok else 2 if result.unreachable else 1)


@log_app.command("show")
def log_show(
    start: Annotated[int, typer.Option(help="First position.")] = 0,
    count: Annotated[int, typer.Option(help="How many entries (at most 1000).")] = 50,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print log entries (the exact JSON each leaf commits to)."""
    from openward.registry.logverify import FetchError

    _, fetch = _fetcher(registry, token)
    try:
        rows = fetch(f"/api/v1/log/entries?start={start}&end={start + count}")["entries"]
    except FetchError as exc:
        raise _fail(str(exc)) from None
    bodies = [json.loads(r["body"]) for r in rows]
    if json_out:
        _out(bodies, True, "")
        return
    for b in bodies:
        rest = {k: v for k, v in b.items() if k not in ("index", "kind", "at")}
        _echo(f"{b['index']:>6} {b['at']} {b['kind']:24} {json.dumps(rest)}")


# -- check ----------------------------------------------------------------------------
@app.command("check")
def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Model folders, HF cache snapshots or hf://ORG/NAME[@REV]."),
    ] = None,
    advisories_file: Annotated[
        Path | None,
        typer.Option("--advisories", help="An offline export (registry advisories --export)."),
    ] = None,
    hf_cache: Annotated[
        bool, typer.Option("--hf-cache", help="Check every snapshot in the Hugging Face cache.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="The cache for --hf-cache (default: HF_HUB_CACHE).")
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Is this exact content taken down, quarantined or under an advisory? Hashes each
    model on disk and asks the registry (or an offline export). Exit 0 clean, 1
    flagged, 2 error."""
    from openward.registry.check import CheckError, check_targets

    if not targets and not hf_cache:
        raise _fail("name a model folder, hf://ORG/NAME, or --hf-cache")
    try:
        results = check_targets(list(targets or []), hf_cache=hf_cache,
                                advisories=advisories_file, registry=registry,
                                token=token, cache_dir=cache_dir)  # fmt: skip
    except CheckError as exc:
        raise _fail(str(exc)) from None
    flagged = [r for r in results if r["flagged"]]
    if json_out:
        _out({"results": results, "flagged": len(flagged)}, True, "")
    else:
        for r in results:
            copy = r.get("recipient_copy")
            if copy:
                whose = (f", copy of grant #{copy['grant']} to "
                         f"{copy.get('user') or 'organisation ' + str(copy.get('organisation'))}"
                         if "grant" in copy else "")  # fmt: skip
                _echo(f"RECIPIENT {r['target']}: a recipient copy of "
                      f"{copy['name']}:{copy['version']}{whose}")  # fmt: skip
            if not r["flagged"]:
                _echo(f"clean    {r['target']}  ({r['files']} files, {r['digest'][:16]})")
                continue
            for hit in r["flagged"]:
                _echo(f"FLAGGED  {r['target']}: {hit['name']}:{hit['version']} is "
                           f"{hit['status']} ({hit['match']} match)")  # fmt: skip
                kin = hit.get("lineage")
                if kin:
                    kinds = ", ".join(kin.get("derivation") or []) or kin.get("verdict")
                    _echo(f"           its weights are {kin.get('verdict')} from it ({kinds}; "
                          f"score {kin.get('score')}, p {kin.get('p_value'):.1e})")  # fmt: skip
                for reason in hit.get("reasons") or []:
                    _echo(f"           {reason}")
                for adv in hit.get("advisories") or []:
                    _echo(f"           advisory {adv}")
        _echo(f"{len(results)} checked, {len(flagged)} flagged")
    raise typer.Exit(1 if flagged else 0)


@token_app.command("revoke")
def token_revoke(
    user: Annotated[
        str | None, typer.Option(help="Revoke every token of this user (admins).")
    ] = None,
    registry: RegistryOpt = None,
    token: TokenOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke tokens: every token of --user (admins), or without it the token you use.
    A revoked token is refused at once, in the API and in signed-in browser sessions."""
    result = _admin_call("POST", "/api/v1/tokens/revoke", registry, token, {"user": user})
    _out(result, json_out, f"revoked {result['revoked']} token(s) of {result['user']}")
