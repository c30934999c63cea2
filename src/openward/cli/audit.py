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

from typing import Any

import typer
from typer._click import Context  # typer vendors click; its Context is the one passed
from typer.core import TyperGroup

from openward.cli.main import app


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


def _unused(*_: Any) -> None:  # placeholder so the module always has a body to import
    return None
