"""What every command shares: the connection options, the consoles, and the
one-line messages for failed calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
import typer
from rich.console import Console
from rich.markup import escape

from imaging.client import TLS, Client, ImagingError, RetryEvent, RetryPolicy
from imaging.client.errors import QuotaExceededError, RateLimitError


@dataclass(frozen=True)
class State:
    """The global options, as ``ctx.obj``."""

    address: str
    api_key: str | None
    admin_token: str | None
    tls: bool
    ca_cert: Path | None
    timeout_s: float
    retries: int
    quiet: bool

    def client(self, admin: bool = False) -> Client:
        """A client of the gateway; ``admin`` needs the admin token."""
        if admin and not self.admin_token:
            fail(
                "the keys commands need the gateway's admin token: pass --admin-token or set "
                "IMAGING_ADMIN_TOKEN (`make run` prints GATEWAY_ADMIN_TOKEN)"
            )
        tls: TLS | bool = TLS(root_certificates=self.ca_cert) if self.ca_cert else self.tls
        return Client(
            self.address,
            api_key=self.api_key,
            admin_token=self.admin_token,
            tls=tls,
            timeout_s=self.timeout_s,
            retry=RetryPolicy(max_attempts=self.retries + 1),
            on_retry=None if self.quiet else _say_retry,
        )


def stdout() -> Console:
    """Results: what a script would read."""
    return Console(soft_wrap=True)


def stderr() -> Console:
    """Progress, retries and errors."""
    return Console(stderr=True, soft_wrap=True)


def state_of(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    assert isinstance(state, State), "the imaging callback sets the state"
    return state


def fail(message: str, code: int = 1) -> None:
    """Prints ``error: message`` to stderr and exits with ``code``."""
    stderr().print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _say_retry(event: RetryEvent) -> None:
    what = event.error.reason or event.error.code_name
    stderr().print(
        f"[dim]{event.method}: {escape(what)}; retrying in {event.delay_s:.1f} s "
        f"(attempt {event.attempt + 1})[/dim]",
        highlight=False,
    )


_UNAUTHENTICATED_HINTS = {
    "API_KEY_MISSING": "pass --api-key or set IMAGING_API_KEY",
    "API_KEY_MALFORMED": "an API key looks like img_ followed by 43 characters",
    "API_KEY_UNKNOWN": "check --api-key / IMAGING_API_KEY; an admin can list keys with `imaging keys list`",
    "API_KEY_REVOKED": "ask an admin for a new key (`imaging keys create`)",
    "API_KEY_EXPIRED": "ask an admin for a new key (`imaging keys create`)",
    "ADMIN_TOKEN_INVALID": "pass --admin-token or set IMAGING_ADMIN_TOKEN (GATEWAY_ADMIN_TOKEN)",
}


def describe(error: ImagingError, state: State) -> str:
    """One line that says what went wrong and what to do about it."""
    code = error.code
    message = error.message.rstrip(".")
    if code == grpc.StatusCode.UNAVAILABLE and not error.reason:
        line = (
            f"cannot reach {state.address} ({message}); is the server running (`make run`)? "
            "Set --address or IMAGING_ADDRESS"
        )
    elif code == grpc.StatusCode.UNAVAILABLE:
        line = f"unavailable: {message}; tried {error.attempts} times, try again shortly"
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        hint = _UNAUTHENTICATED_HINTS.get(error.reason, "check the key")
        line = f"not authenticated: {message}; {hint}"
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        line = f"permission denied: {message}"
    elif code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        fields = "; ".join(f"{v.field}: {v.description}" for v in error.field_violations)
        line = f"invalid argument: {fields or message}"
    elif isinstance(error, QuotaExceededError):
        quotas = "; ".join(v.description for v in error.quota_violations) or message
        line = f"quota exceeded: {quotas}; no retry helps before the period ends (see `imaging usage`)"
    elif isinstance(error, RateLimitError):
        line = f"rate limited: {message}; retry in {error.retry_delay_s or 0:.1f} s"
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        line = f"resource exhausted: {message}"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        line = f"no answer within {state.timeout_s:g} s; raise --timeout (or IMAGING_TIMEOUT)"
    elif code == grpc.StatusCode.NOT_FOUND:
        line = f"not found: {message}"
    elif code == grpc.StatusCode.FAILED_PRECONDITION:
        line = f"failed precondition: {message}"
    elif code == grpc.StatusCode.UNIMPLEMENTED:
        line = f"{state.address} does not serve this call ({message}); is it the gateway?"
    elif code == grpc.StatusCode.CANCELLED:
        line = "cancelled"
    else:
        line = f"the server failed ({error.code_name}): {message}"
    if error.request_id:
        line += f" (request id {error.request_id})"
    return line
