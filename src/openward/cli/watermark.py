"""``openward watermark``: text watermark keys, watermarked generation, detection.

Forms (contracts, driven by scripts exactly as written):

- ``openward watermark keygen --model MODEL -o KEYFILE [--scheme kgw|kgw-selfhash|synthid]``
- ``openward watermark generate MODEL --key KEYFILE --prompt TEXT [--max-new-tokens N]``:
  prints the generated (watermarked) text
- ``openward watermark detect FILE|- --key KEYFILE [--json]``: JSON ``{"scheme",
  "tokens_scored", "z", "p_value", "watermarked"}`` (keys are only ever added; also
  ``reason``, ``alpha``, ``score``, ``paragraphs``, ...)

Exit status of ``detect``: 0 a verdict was reached (watermarked or not: read it), 1 the
text is too short for a verdict (``"watermarked": null`` and a ``reason``), 2 bad input
(one line: unreadable file, malformed key, unknown scheme). ``keygen`` and ``generate``:
0 done, 2 bad input (a key for another tokenizer, a model that cannot be loaded).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from openward.cli.main import _fail, app
from openward.errors import OpenwardError

watermark_app = typer.Typer(
    help="Text watermarks: make a key for a model, generate watermarked text, detect it.",
    no_args_is_help=True,
)
app.add_typer(watermark_app, name="watermark")

EXIT_NO_VERDICT = 1


@watermark_app.command()
def keygen(
    model: Annotated[
        str,
        typer.Option(
            "--model", help="The model (folder or .gguf file) whose tokenizer the key is for."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the key file.")],
    scheme: Annotated[
        str,
        typer.Option(help="kgw (LeftHash), kgw-selfhash (robust to edits) or synthid."),
    ] = "kgw-selfhash",
    publisher: Annotated[str, typer.Option(help="Who the key belongs to (recorded).")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the key's summary as JSON.")
    ] = False,
) -> None:
    """Make a secret watermark key for MODEL's tokenizer (written with mode 0600).

    The key file embeds the tokenizer, so `detect` needs no model."""
    from openward.watermark.text.keys import SCHEMES

    if scheme not in SCHEMES:
        raise _fail(f"unknown watermark scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    try:
        from openward.watermark.text.generate import keygen_from_model

        key = keygen_from_model(model, scheme, publisher=publisher)
        key.save(output)
    except ImportError as exc:
        raise _fail(
            f"keygen needs torch and transformers ({exc.name} is missing): "
            "pip install 'openward[watermark-generate]'"
        ) from None
    except (OpenwardError, OSError) as exc:
        raise _fail(str(exc)) from None
    summary = {
        "key_file": str(output),
        "key_id": key.key_id,
        "scheme": key.scheme,
        "tokenizer": key.tokenizer.name,
        "vocab_sha256": key.tokenizer.vocab_sha256,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"wrote {output}: {key.scheme} key {key.key_id} for the tokenizer of "
            f"{key.tokenizer.name} (keep it secret)"
        )


@watermark_app.command()
def generate(
    model: Annotated[str, typer.Argument(help="The model: a folder or a .gguf file.")],
    key_file: Annotated[Path, typer.Option("--key", help="The key file (watermark keygen).")],
    prompt: Annotated[str, typer.Option(help="The user message the model answers.")],
    max_new_tokens: Annotated[
        int, typer.Option(min=1, max=8192, help="Tokens to generate at most.")
    ] = 200,
    temperature: Annotated[
        float, typer.Option(min=0.0, help="Sampling temperature (0: greedy).")
    ] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Seed the sampler (repeatable output).")] = None,
) -> None:
    """Generate a watermarked reply to PROMPT with MODEL and print it."""
    from openward.watermark.text.keys import load_key

    try:
        key = load_key(key_file)
        from openward.watermark.text.generate import generate_texts, load_model

        llm, tokenizer = load_model(model, key)
        (text,) = generate_texts(
            llm,
            tokenizer,
            [prompt],
            key,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
        )
    except ImportError as exc:
        raise _fail(
            f"generate needs torch and transformers ({exc.name} is missing): "
            "pip install 'openward[watermark-generate]'"
        ) from None
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    typer.echo(text)


@watermark_app.command()
def detect(
    file: Annotated[str, typer.Argument(help="The text file to test, or - for standard input.")],
    key_file: Annotated[Path, typer.Option("--key", help="The key file (watermark keygen).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    alpha: Annotated[
        float,
        typer.Option(
            min=1e-300, max=0.5, help="Verdict level: watermarked when the p-value is below it."
        ),
    ] = 1e-5,
) -> None:
    """Test a text for the watermark of KEYFILE: a z-score, an exact p-value, a verdict
    (and one per paragraph for texts of several paragraphs). Needs no model and no torch.

    Exit status: 0 a verdict, 1 too short for a verdict, 2 bad input."""
    from openward.watermark.text.detect import detect_text
    from openward.watermark.text.keys import load_key

    try:
        key = load_key(key_file)
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(f"{file}: not UTF-8 text") from None
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror or exc}") from None
    except OpenwardError as exc:
        raise _fail(str(exc)) from None
    result = detect_text(key, text, alpha=alpha)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
    else:
        if result.watermarked is None:
            typer.echo(f"no verdict ({result.scheme}): {result.reason}")
        else:
            verdict = "watermarked" if result.watermarked else "no watermark found"
            typer.echo(
                f"{verdict} ({result.scheme}, key {result.key_id}): z = {result.z:.2f}, "
                f"p = {result.p_value:.3g} over {result.tokens_scored} scored tokens "
                f"(verdict at p < {result.alpha:g})"
            )
        for i, para in enumerate(result.paragraphs, 1):
            if para.watermarked is None:
                typer.echo(f"  paragraph {i}: no verdict ({para.tokens_scored} scored tokens)")
            else:
                mark = "watermarked" if para.watermarked else "not watermarked"
                typer.echo(
                    f"  paragraph {i}: {mark}, z = {para.z:.2f}, p = {para.p_value:.3g} "
                    f"({para.tokens_scored} scored tokens)"
                )
    if result.watermarked is None:
        raise typer.Exit(EXIT_NO_VERDICT)
