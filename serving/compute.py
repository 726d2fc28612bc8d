"""The contract every engine shares with the runtime, whatever its model.

- A batch is computed for ``Row``s (the batcher's ``WorkItem``s): compute
  checks ``row.cancelled`` at every token or denoising step, and sends
  partial results with ``row.emit`` (worth preparing only when ``row.streaming``).
- A row whose caller left (cancelled, or its deadline passed) gets ``None``
  as its result; the batcher then cancels that caller's future.
- Weights load in one of ``DTYPE_NAMES``; ``torch_dtype`` maps the name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import torch

DtypeName = Literal["float32", "bfloat16", "float16"]
DTYPE_NAMES: tuple[DtypeName, ...] = ("float32", "bfloat16", "float16")


class Row(Protocol):
    """One caller of a batch, as an engine sees it."""

    @property
    def cancelled(self) -> bool: ...

    @property
    def streaming(self) -> bool:
        """True when the caller reads ``emit``'s partial results."""
        ...

    def emit(self, event: Any) -> None: ...


class Inbox(Protocol):
    """Calls that join a running batch (continuous batching; ``serving.batcher.JoinInbox``)."""

    def joinable(self, active: int) -> int:
        """How many waiting calls fit beside ``active`` rows now."""
        ...

    def take(self, active: int) -> Sequence[Any]:
        """Rows to add to a batch of ``active`` rows (each with its ``payload``); often none."""
        ...


def torch_dtype(name: DtypeName) -> torch.dtype:
    """The torch dtype of a setting's name (torch is imported only by engines)."""
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
