"""Plans: the limits a key gets by name. ``free`` is every new key's default;
paid limits are set per key with SetQuota."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """A key's limits; zero means unlimited. ``allowed_variants`` empty: all."""

    plan: str
    requests_per_minute: int = 0
    images_per_month: int = 0
    spend_per_month_micros: int = 0
    currency_code: str = "USD"
    allowed_variants: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_quota(self) -> bool:
        """Whether a monthly image or spend quota applies (else calls need no reservation)."""
        return bool(self.images_per_month or self.spend_per_month_micros)


PLANS: dict[str, Limits] = {
    # Enough to try every RPC, not to run a product on.
    "free": Limits(
        plan="free",
        requests_per_minute=60,
        images_per_month=200,
        spend_per_month_micros=1_000_000,
        allowed_variants=("flux.1-schnell", "flux.2-klein-4b"),
    ),
    "unlimited": Limits(plan="unlimited"),
}


def plan_limits(name: str) -> Limits:
    """The limits of a named plan; a ValueError names the known ones."""
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; known plans: {', '.join(sorted(PLANS))}") from None
