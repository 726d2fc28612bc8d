"""Where and how the clients connect: address, TLS, credentials, deadlines and
retries, shared by the sync and asyncio flavours."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from imaging.client.retry import RetryHook, RetryPolicy

DEFAULT_ADDRESS = "127.0.0.1:50050"
"""The gateway of ``make run``."""
DEFAULT_TIMEOUT_S = 120.0
"""The default deadline of one logical call, retries included, in seconds."""
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
USER_AGENT = "imaging-python/0.1"

_PemSource = bytes | str | os.PathLike[str]


@dataclass(frozen=True)
class TLS:
    """TLS for the channel. Leave ``root_certificates`` unset to trust gRPC's
    default roots (the system's, or ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``); give
    PEM bytes or a file path to trust a private CA. ``certificate_chain`` and
    ``private_key`` (PEM bytes or paths) authenticate the client (mutual TLS);
    ``server_name`` overrides the name checked against the server's certificate.
    """

    root_certificates: _PemSource | None = None
    certificate_chain: _PemSource | None = None
    private_key: _PemSource | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_pem(self.root_certificates),
            private_key=_pem(self.private_key),
            certificate_chain=_pem(self.certificate_chain),
        )


def _pem(source: _PemSource | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


@dataclass(frozen=True)
class Settings:
    """Everything a client needs besides its channel."""

    credential: str | None
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: RetryHook | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0 seconds (None: no deadline)")
        if self.credential is not None and not self.credential.strip():
            raise ValueError("an API key or admin token must not be empty (None: send none)")

    def call_metadata(self, extra: tuple[tuple[str, str], ...] = ()) -> tuple[tuple[str, str], ...]:
        """The metadata of one call: the credential as ``authorization: Bearer``,
        the client-wide metadata, then ``extra``."""
        auth = (("authorization", f"Bearer {self.credential.strip()}"),) if self.credential else ()
        return (*auth, *self.metadata, *extra)


def channel_options(tls: TLS | None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.primary_user_agent", USER_AGENT),
    ]
    if tls is not None and tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return options


def resolve_tls(tls: TLS | bool | None) -> TLS | None:
    """``True``: TLS with default roots; ``False``/``None``: plaintext."""
    if tls is True:
        return TLS()
    if tls is False or tls is None:
        return None
    return tls


def sync_channel(address: str, tls: TLS | None) -> grpc.Channel:
    options = channel_options(tls)
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, tls.credentials(), options=options)


def aio_channel(address: str, tls: TLS | None) -> grpc.aio.Channel:
    options = channel_options(tls)
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, tls.credentials(), options=options)
