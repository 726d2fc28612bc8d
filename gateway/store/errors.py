"""A store that cannot be reached is the server's trouble, never the client's:
database errors become UNAVAILABLE with RetryInfo instead of INTERNAL."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import sqlalchemy as sa

from serving import errors

_LOGGER = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def store_unavailable() -> errors.Unavailable:
    return errors.Unavailable(
        "the gateway's key store and ledger are unreachable; retry shortly",
        reason="STORE_UNAVAILABLE",
        retry_after_s=1.0,
    )


def reports_unavailable(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turns a lost connection or a failed query into UNAVAILABLE (logged once)."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.ProgrammingError) as exc:
            _LOGGER.warning(
                "store call failed", extra={"call": function.__qualname__, "error": str(exc.orig)}
            )
            raise store_unavailable() from None

    return wrapper
