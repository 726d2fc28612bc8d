"""The ``imaging`` command: the typer app, its global options, and the one place
where failed calls become one-line messages and a non-zero exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from PIL import UnidentifiedImageError
from typer.core import TyperGroup

from imaging.cli import account, captioner, generator
from imaging.cli._state import State, describe, fail, state_of
from imaging.client import DEFAULT_ADDRESS, DEFAULT_TIMEOUT_S, ImagingError


class _Group(TyperGroup):
    """Turns expected failures into ``error: ...`` on stderr and exit code 1
    (130 on Ctrl-C), never a traceback. Bugs still show theirs."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ImagingError as error:
            fail(describe(error, state_of(ctx)))
        except UnidentifiedImageError as error:
            fail(f"not an image: {error}")
        except OSError as error:  # a file that cannot be read or written
            fail(str(error))
        except KeyboardInterrupt:
            fail("interrupted; the call was cancelled", code=130)


app = typer.Typer(
    name="imaging",
    cls=_Group,
    help="Caption, embed, match and generate images through the imaging gateway.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals would include the API key
)


@app.callback()
def main(
    ctx: typer.Context,
    address: Annotated[
        str, typer.Option("--address", "-a", envvar="IMAGING_ADDRESS", help="The gateway, host:port.")
    ] = DEFAULT_ADDRESS,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", "-k", envvar="IMAGING_API_KEY", help="Your API key (img_...).", show_default=False
        ),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            "--admin-token",
            envvar=["IMAGING_ADMIN_TOKEN", "GATEWAY_ADMIN_TOKEN"],
            help="The gateway's admin token, for `imaging keys`.",
            show_default=False,
        ),
    ] = None,
    tls: Annotated[
        bool, typer.Option("--tls", envvar="IMAGING_TLS", help="Use TLS with the system's root certificates.")
    ] = False,
    ca_cert: Annotated[
        Path | None,
        typer.Option(
            "--ca-cert",
            envvar="IMAGING_CA_CERT",
            exists=True,
            dir_okay=False,
            help="Use TLS trusting this PEM CA.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", envvar="IMAGING_TIMEOUT", min=0.001, help="Deadline of each call, in seconds."
        ),
    ] = DEFAULT_TIMEOUT_S,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries on UNAVAILABLE and rate limits (0: none).")
    ] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Say nothing about retries.")] = False,
) -> None:
    """Caption, embed, match and generate images through the imaging gateway.

    The address and credentials come from the options or the environment:
    IMAGING_ADDRESS, IMAGING_API_KEY, IMAGING_ADMIN_TOKEN (or GATEWAY_ADMIN_TOKEN).
    """
    ctx.obj = State(
        address=address,
        api_key=api_key or None,
        admin_token=admin_token or None,
        tls=tls,
        ca_cert=ca_cert,
        timeout_s=timeout,
        retries=retries,
        quiet=quiet,
    )


app.command("caption")(captioner.caption)
app.command("embed")(captioner.embed)
app.command("match")(captioner.match)
app.command("generate")(generator.generate)
app.command("variants")(generator.variants)
app.command("usage")(account.usage)
app.add_typer(account.keys, name="keys")
