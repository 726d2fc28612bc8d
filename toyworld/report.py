"""One row of the evaluation table, shared by every model's evaluation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvalRow:
    """A measured figure; ``bar`` is the issue's threshold (None: reported only).

    ``value`` and ``bar`` are fractions in [0, 1]; ``passed`` is None when
    there is no bar.
    """

    model: str
    metric: str
    value: float
    bar: float | None = None
    count: int = 0
    world: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.bar is None else self.value >= self.bar
