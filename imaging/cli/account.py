"""``imaging usage`` and the admins' ``imaging keys create|list|revoke|rotate``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Column, Table

from imaging.cli._state import state_of, stderr, stdout
from imaging.client import ApiKey, Cost, Quota

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

keys = typer.Typer(
    help="Create, list, revoke and rotate API keys (needs the admin token).", no_args_is_help=True
)


def usage(ctx: typer.Context) -> None:
    """Show this key's usage this month and what is left of its quota."""
    with state_of(ctx).client() as client:
        report = client.usage.get()
    key, spent = report.key, report.usage
    out = stdout()
    since = report.period_start.date().isoformat() if report.period_start else "?"
    out.print(
        f"key {escape(key.key_id)} ({escape(key.display_name)}), plan {escape(key.quota.plan)}",
        highlight=False,
    )
    left_images = "unlimited" if report.remaining_images is None else str(report.remaining_images)
    left_spend = "unlimited" if report.remaining_spend is None else str(report.remaining_spend)
    out.print(
        f"since {since}: {spent.image_count} images, {spent.token_count} tokens, {spent.cost}; "
        f"left: {left_images} images, {left_spend}",
        highlight=False,
    )
    if report.breakdown:
        table = Table("method", "variant", "images", "cost")
        for line in report.breakdown:
            table.add_row(
                escape(line.method.rsplit("/", 1)[-1]),
                escape(line.model) or "-",
                str(line.usage.image_count),
                str(line.usage.cost),
            )
        out.print(table)


@keys.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A human name for the key.")],
    plan: Annotated[
        str, typer.Option("--plan", help="A plan name (default: the gateway's default plan).")
    ] = "",
    rpm: Annotated[int, typer.Option("--rpm", min=0, help="Calls per minute (0: unlimited).")] = 0,
    images_per_month: Annotated[
        int, typer.Option("--images-per-month", min=0, help="Billed images per month (0: unlimited).")
    ] = 0,
    spend_per_month: Annotated[
        str | None, typer.Option("--spend-per-month", help="Spend per month in USD, e.g. 25 or 0.5.")
    ] = None,
    variant: Annotated[
        list[str] | None, typer.Option("--variant", help="An allowed variant (repeatable).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", help="A service or Service/Method the key may call (repeatable; default: all)."
        ),
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime such as 30d, 12h or 3600 (seconds).")
    ] = None,
) -> None:
    """Create an API key and print its secret (shown once)."""
    spend = _usd(spend_per_month) if spend_per_month is not None else None
    custom = rpm or images_per_month or spend is not None or variant
    quota = (
        Quota(
            plan=plan or "custom",
            requests_per_minute=rpm,
            images_per_month=images_per_month,
            spend_per_month=spend,
            allowed_variants=tuple(variant or ()),
        )
        if custom
        else Quota(plan=plan)
        if plan
        else None
    )
    expires = datetime.now(UTC) + timedelta(seconds=_seconds(expires_in)) if expires_in else None
    with state_of(ctx).client(admin=True) as client:
        created = client.admin.create_key(name, quota=quota, scopes=scope or (), expires=expires)
    stdout().print(_keys_table([created.key]))
    stdout().print(created.secret, markup=False, highlight=False)
    stderr().print("the secret above is shown once; the gateway keeps only its hash", style="yellow")


@keys.command("list")
def list_keys(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """List API keys, newest first."""
    with state_of(ctx).client(admin=True) as client:
        listed = list(client.admin.list_keys(show_revoked=show_all))
    stdout().print(_keys_table(listed))


@keys.command("revoke")
def revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")]
) -> None:
    """Revoke an API key: its calls are refused from now on."""
    with state_of(ctx).client(admin=True) as client:
        key = client.admin.revoke_key(key_id)
    stdout().print(_keys_table([key]))


@keys.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")],
    grace: Annotated[
        str,
        typer.Option("--grace", help="How long the old secret keeps working: 0 (default), 90s, 15m, 2h, 7d."),
    ] = "0",
) -> None:
    """Give a key a new secret (printed once); the old one stops after the grace period."""
    with state_of(ctx).client(admin=True) as client:
        rotated = client.admin.rotate_key(key_id, grace_period_s=_seconds(grace))
    stdout().print(_keys_table([rotated.key]))
    stdout().print(rotated.secret, markup=False, highlight=False)
    until = rotated.old_secret_expires
    stderr().print(
        "the old secret stopped working"
        if until is None
        else f"the old secret works until {until.isoformat(timespec='seconds')}",
        style="yellow",
    )


def _keys_table(listed: list[ApiKey]) -> Table:
    table = Table(
        Column("key id", no_wrap=True),
        Column("name", overflow="fold", min_width=6),
        Column("state", no_wrap=True),
        Column("plan: limits", overflow="fold", min_width=12),
        Column("expires", no_wrap=True),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for key in listed:
        table.add_row(
            escape(key.key_id),
            escape(key.display_name),
            key.state,
            escape(f"{key.quota.plan}: {_limits(key.quota)}"),
            key.expires.strftime("%Y-%m-%d %H:%M") if key.expires else "never",
        )
    return table


def _limits(quota: Quota) -> str:
    parts = []
    if quota.requests_per_minute:
        parts.append(f"{quota.requests_per_minute}/min")
    if quota.images_per_month:
        parts.append(f"{quota.images_per_month} images/month")
    if quota.spend_per_month is not None:
        parts.append(f"{quota.spend_per_month}/month")
    if quota.allowed_variants:
        parts.append(", ".join(quota.allowed_variants))
    return "; ".join(parts) or "unlimited"


def _seconds(text: str) -> float:
    parsed = _DURATION.match(text.strip().lower())
    if parsed is None:
        raise typer.BadParameter(f"a duration looks like 3600, 90s, 15m, 2h or 7d, not {text!r}")
    return float(parsed[1]) * _UNIT_S[parsed[2]]


def _usd(text: str) -> Cost:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(
            f"--spend-per-month takes an amount in USD such as 25 or 0.5, not {text!r}"
        ) from None
    if amount < 0:
        raise typer.BadParameter("--spend-per-month must be >= 0")
    return Cost(amount_micros=int(amount * 1_000_000), currency_code="USD")
