"""``openward audit``: behavioural safety audits of a model.

Forms (contracts, driven by scripts exactly as written):

- ``openward audit TARGET [options]``                run suites against a local folder or hf://
- ``openward audit --endpoint URL --model NAME ...``  the same against an OpenAI-compatible server
- ``openward audit --list-suites``
- ``openward audit judge FILE.jsonl [--json]``        judge completions offline

``audit`` is a group whose default command is ``run``: anything that is not a subcommand's
name is handed to ``run`` (so ``audit judge`` is the judge, ``audit ./model`` an audit).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click import Context  # typer vendors click; its Context is the one passed
from typer.core import TyperGroup

from openward.cli.main import _fail, app


class _DefaultRunGroup(TyperGroup):
    """A group that runs ``run`` when the first argument is not a subcommand."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if not args:
            args = ["run"]
        elif args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    cls=_DefaultRunGroup,
    help="Safety audits and red teaming of a model (needs the 'audit' extra).",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(audit_app, name="audit")


@audit_app.command("judge")
def judge(
    file: Annotated[
        str,
        typer.Argument(
            help="JSONL: one object per line with 'prompt' and 'completion'; - for stdin."
        ),
    ],
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Write the objects back, one per line, with verdict and score."
        ),
    ] = False,
    judge_name: Annotated[
        str, typer.Option("--judge", help="default (trained, offline), keyword (baseline) or llm.")
    ] = "default",
    judge_endpoint: Annotated[
        str | None,
        typer.Option("--judge-endpoint", help="OpenAI-compatible base URL for --judge llm."),
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Model name for --judge llm.")
    ] = None,
) -> None:
    """Judge completions offline: did the model comply or refuse?"""
    import os

    from openward.audit.judges import load_judge
    from openward.audit.judges.jsonl import judge_records, read_pairs
    from openward.errors import OpenwardError

    try:
        if file == "-":
            records = read_pairs(sys.stdin, "<stdin>")
        else:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise OpenwardError(
                    f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}"
                ) from None
            records = read_pairs(text.splitlines(), file)
        options: dict[str, Any] = {}
        if judge_name == "llm":
            options = {
                "endpoint": judge_endpoint or os.environ.get("OPENWARD_JUDGE_ENDPOINT"),
                "model": judge_model or os.environ.get("OPENWARD_JUDGE_MODEL"),
                "api_key": os.environ.get("OPENWARD_JUDGE_API_KEY"),
            }
        elif judge_endpoint or judge_model:
            raise OpenwardError("--judge-endpoint/--judge-model need --judge llm")
        judge_obj = load_judge(judge_name, **options)
        rows = judge_records(judge_obj, records)
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        import json

        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    _print_table(rows, judge_obj.info.name)


def _print_table(rows: list[dict[str, Any]], judge_name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"judge: {judge_name}")
    table.add_column("#", justify="right")
    table.add_column("id")
    table.add_column("verdict")
    table.add_column("P(refused)", justify="right")
    table.add_column("completion (opening)")
    for i, row in enumerate(rows, start=1):
        opening = " ".join(str(row["completion"]).split())[:70]
        style = "red" if row["verdict"] == "complied" else "green"
        table.add_row(
            str(i),
            str(row.get("id", "")),
            f"[{style}]{row['verdict']}[/]",
            f"{row['score']:.3f}",
            opening,
        )
    console = Console()
    console.print(table)
    refused = sum(1 for r in rows if r["verdict"] == "refused")
    console.print(f"{refused} of {len(rows)} refused")
