"""API key secrets: how they look, how they are hashed, how a call carries one.

A secret is ``img_`` plus 32 random bytes in URL-safe base64 (256
bits); only HMAC-SHA-256(pepper, secret) is stored, so a leaked database
reveals no usable key, and the pepper lives outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path

from serving import errors

SECRET_PREFIX = "img_"
DISPLAY_PREFIX_CHARS = 10
MAX_SECRET_CHARS = 256
_SECRET_PATTERN = re.compile(r"^img_[A-Za-z0-9_-]{43}$")
_PEPPER_FILE = "key_pepper"
_LOGGER = logging.getLogger(__name__)


def new_secret() -> str:
    """A fresh secret with 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def display_prefix(secret: str) -> str:
    """The first characters, enough to recognise a key, far too few to use it."""
    return secret[:DISPLAY_PREFIX_CHARS]


def hash_secret(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def parse_secret(value: str) -> str:
    """Returns the secret of a well-formed key; refuses anything else without
    echoing it (a client may have sent some other credential by mistake)."""
    if len(value) > MAX_SECRET_CHARS or not _SECRET_PATTERN.match(value):
        raise errors.Unauthenticated(
            f"malformed API key: expected '{SECRET_PREFIX}' followed by 43 URL-safe characters",
            reason="API_KEY_MALFORMED",
        )
    return value


def credential_from_metadata(metadata: dict[str, str]) -> str | None:
    """The credential of ``authorization: Bearer <x>`` or ``x-api-key: <x>``, if any."""
    authorization = metadata.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise errors.Unauthenticated(
                "malformed authorization header: expected 'Bearer <API key>'", reason="API_KEY_MALFORMED"
            )
        return value.strip()
    api_key = metadata.get("x-api-key")
    return api_key.strip() if api_key is not None else None


def load_pepper(configured: str, data_dir: Path) -> bytes:
    """The configured pepper, else the one kept in ``data_dir`` (made on first use)."""
    if configured:
        return configured.encode()
    path = data_dir / _PEPPER_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        _LOGGER.info("generated a key pepper", extra={"path": str(path)})
    for _ in range(100):  # another process may be writing it right now
        pepper = path.read_text().strip()
        if pepper:
            return pepper.encode()
        time.sleep(0.01)
    raise RuntimeError(f"the key pepper file {path} is empty; delete it or set GATEWAY_KEY_PEPPER")
