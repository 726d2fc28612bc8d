"""Async servicers whose every method answers UNIMPLEMENTED with a clear message.

A server registers one for a contract it does not serve yet, so reflection
and health describe the whole contract while no call gets a fake result.
"""

from __future__ import annotations

from typing import Any, TypeVar

from serving import errors

_S = TypeVar("_S")


def unimplemented_servicer(base: Any, service_name: str) -> Any:
    """Returns an instance of a subclass of the generated ``base`` servicer
    whose methods raise ``Unimplemented``; streaming methods raise on first use."""

    def make(method: str) -> Any:
        async def handler(self: Any, request: Any, context: Any) -> Any:
            raise errors.Unimplemented(
                f"{service_name}.{method} is not served by this server yet",
                metadata={"method": f"/{service_name}/{method}"},
            )

        handler.__name__ = method
        return handler

    methods = {name: make(name) for name in vars(base) if not name.startswith("_")}
    return type(f"Unimplemented{base.__name__}", (base,), methods)()
