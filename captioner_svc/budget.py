"""How many tokens a caption may have, from the loaded decoder and the settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenBudget:
    """The caption decoder holds ``positions`` tokens, BOS and the prefix
    included, and the server's setting may cap that further."""

    positions: int
    configured_limit: int
    configured_default: int

    def room(self, prefix_tokens: int) -> int:
        """The largest max_new_tokens after a prefix of ``prefix_tokens`` tokens (BOS takes one)."""
        return min(self.configured_limit, self.positions - 1 - prefix_tokens)

    @property
    def limit(self) -> int:
        """The largest max_new_tokens without a prefix, as GetModelInfo advertises it."""
        return self.room(0)

    @property
    def default(self) -> int:
        """The max_new_tokens of a request that leaves it unset (a prefix may cut it further)."""
        return min(self.configured_default, self.limit)

    @property
    def max_caption_tokens(self) -> int:
        """The longest caption whose cross-attention can be computed: every position but BOS."""
        return self.positions - 1
