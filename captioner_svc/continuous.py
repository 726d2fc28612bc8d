"""Continuous batching of greedy and sampled captions: a running decode that
rows join at any step and leave as soon as they end.

Rows that join later have shorter KV caches than the rows already decoding.
They are prefilled (image encoding, prompt) as a group of their own, their
caches are left-padded to the running length and appended to the batch; an
attention mask hides the padding and each row keeps its own position ids, so
a row decodes exactly as it would alone. A row that ends (end of sequence,
stop sequence, length) or whose caller left is cut from the batch, cache
included, and its caller is answered at once (``on_finish``).

Runs on the model's worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from captioner_svc.decoder_step import decoder_prefill, decoder_step
from captioner_svc.decoding import Detokenizer, RowState, advance_row, penalty_and_warpers
from captioner_svc.options import CaptionResult, DecodeOptions, Strategy
from serving.compute import Row

FinishFn = Callable[[Row, CaptionResult], None]


@dataclass
class _Live:
    """A row in the running batch."""

    row: Row
    state: RowState
    min_new_tokens: int
    max_new_tokens: int
    encode_s: float
    admitted_at: float


class RunningDecode:
    """Decodes rows of one ``DecodeOptions`` (each row with its own token limits)
    step by step; ``admit`` adds rows
    (before any step or between steps), ``step`` advances every row by one token."""

    def __init__(
        self, model: Any, detok: Detokenizer, options: DecodeOptions, on_finish: FinishFn | None
    ) -> None:
        config = model.config.text_config
        self.model = model
        self.detok = detok
        self.options = options
        self.on_finish = on_finish
        self.eos_id: int = config.sep_token_id
        self.prompt = [config.bos_token_id, *detok.prefix_ids]
        self.sampling = options.strategy is Strategy.SAMPLING
        self.penalty, self.warpers = penalty_and_warpers(options)
        self.rows: list[_Live] = []
        # Results by row identity (None: its caller left), for the rows that ended.
        self.results: dict[int, CaptionResult | None] = {}
        # Batch tensors, one entry per live row; empty until the first admission.
        self.past: Any = None
        self.embeds = torch.empty(0)
        self.next_tokens = torch.empty(0, dtype=torch.long)
        self.positions = torch.empty(0, dtype=torch.long)  # real tokens in each row's cache
        self.pad = torch.empty(0, dtype=torch.long)  # each row's left padding in the cache
        self.sequences = torch.empty(0, dtype=torch.long)  # cache contents (padding: BOS), for the penalty

    def admit(
        self,
        embeds: torch.Tensor,
        rows: Sequence[Row],
        seeds: Sequence[int],
        limits: Sequence[tuple[int, int]],
        encode_s: float,
    ) -> None:
        """Prefills ``rows`` (images encoded as ``embeds``; ``limits``: each row's
        min and max new tokens) and adds the ones still going."""
        now = time.perf_counter()
        lives = []
        for index, row in enumerate(rows):
            if row.cancelled:
                self.results[id(row)] = None
                continue
            generator = torch.Generator(device="cpu").manual_seed(seeds[index]) if self.sampling else None
            least, most = limits[index]
            lives.append((index, _Live(row, RowState(generator), least, most, encode_s, now)))
        if not lives:
            return
        device = embeds.device
        embeds = embeds[torch.tensor([index for index, _ in lives], device=device)]
        new = [live for _, live in lives]
        prompt = torch.tensor([self.prompt] * len(new), dtype=torch.long, device=device)
        logits, past = decoder_prefill(self.model.text_decoder, prompt, embeds)
        chosen, log_probs = self._choose(logits, prompt, new)
        keep = self._advance(new, chosen, log_probs)
        if not keep:
            return
        if len(keep) < len(new):
            kept = torch.tensor(keep, dtype=torch.long, device=device)
            past.batch_select_indices(kept)
            embeds, chosen, prompt = embeds[kept], chosen[kept], prompt[kept]
        self._append([new[k] for k in keep], past, embeds, chosen, prompt)

    def step(self) -> None:
        """One token for every live row."""
        length = self.past.get_seq_length()
        device = self.embeds.device
        attends = torch.arange(length + 1, device=device)[None, :] >= self.pad[:, None]
        mask = torch.zeros(attends.shape, dtype=self.embeds.dtype, device=device)
        mask = mask.masked_fill(~attends, torch.finfo(self.embeds.dtype).min)[:, None, None, :]
        logits = decoder_step(self.model.text_decoder, self.past, self.next_tokens, self.positions, mask)
        self.positions = self.positions + 1
        self.sequences = torch.cat([self.sequences, self.next_tokens[:, None]], dim=1)
        chosen, log_probs = self._choose(logits, self.sequences, self.rows)
        self.next_tokens = chosen
        keep = self._advance(self.rows, chosen, log_probs)
        if len(keep) < len(self.rows):
            self._select(keep)

    # -- one token ------------------------------------------------------------------------

    def _choose(
        self, logits: torch.Tensor, sequences: torch.Tensor, lives: Sequence[_Live]
    ) -> tuple[torch.Tensor, list[float]]:
        """Each row's next token and its log-probability under the model."""
        logits = logits.float()
        log_probs = torch.log_softmax(logits, dim=-1)
        scores = self.penalty(sequences, logits) if self.penalty else logits
        if self.options.min_new_tokens:
            too_short = torch.tensor(
                [len(live.state.token_ids) < self.options.min_new_tokens for live in lives],
                device=logits.device,
            )
            scores = scores.clone()
            scores[too_short, self.eos_id] = -float("inf")
        for warper in self.warpers:
            scores = warper(sequences, scores)
        if self.sampling:
            probs = torch.softmax(scores, dim=-1).cpu()
            chosen = torch.stack(
                [
                    torch.multinomial(probs[k], 1, generator=live.state.generator)[0]
                    for k, live in enumerate(lives)
                ]
            ).to(logits.device)
        else:
            chosen = scores.argmax(dim=-1)
        return chosen, log_probs.gather(1, chosen[:, None])[:, 0].tolist()

    def _advance(self, lives: Sequence[_Live], chosen: torch.Tensor, log_probs: list[float]) -> list[int]:
        """Appends each row's token; answers the rows that ended; returns the indexes still going."""
        keep = []
        for k, (live, token) in enumerate(zip(lives, chosen.tolist(), strict=True)):
            last = len(live.state.token_ids) == live.max_new_tokens - 1
            advance_row(live.state, live.row, self.detok, token, log_probs[k], self.eos_id, last)
            if live.state.finish is not None:
                self._finish(live)
            elif live.row.cancelled:
                self.results[id(live.row)] = None
            else:
                keep.append(k)
        return keep

    def _finish(self, live: _Live) -> None:
        state = live.state
        assert state.finish is not None
        mean = sum(state.log_probs) / len(state.log_probs) if state.log_probs else 0.0
        decode_s = time.perf_counter() - live.admitted_at
        result = CaptionResult(
            state.text, tuple(state.token_ids), state.finish, mean, live.encode_s, decode_s
        )
        self.results[id(live.row)] = result
        if self.on_finish is not None:
            self.on_finish(live.row, result)

    # -- the batch's tensors ----------------------------------------------------------------

    def _append(
        self, lives: list[_Live], past: Any, embeds: torch.Tensor, chosen: torch.Tensor, prompt: torch.Tensor
    ) -> None:
        """Adds prefilled rows, their caches left-padded to the running length."""
        count = len(lives)
        positions = torch.full((count,), prompt.shape[1], dtype=torch.long, device=embeds.device)
        if not self.rows:
            self.past, self.embeds, self.next_tokens = past, embeds, chosen
            self.positions, self.pad, self.sequences = positions, torch.zeros_like(positions), prompt
            self.rows = lives
            return
        by = self.past.get_seq_length() - prompt.shape[1]
        for running, joining in zip(_layers(self.past), _layers(past), strict=True):
            running.keys = torch.cat([running.keys, _left_pad(joining.keys, by)])
            running.values = torch.cat([running.values, _left_pad(joining.values, by)])
        for running, joining in zip(_cross_layers(self.past), _cross_layers(past), strict=True):
            running.keys = torch.cat([running.keys, joining.keys])
            running.values = torch.cat([running.values, joining.values])
        self.embeds = torch.cat([self.embeds, embeds])
        self.next_tokens = torch.cat([self.next_tokens, chosen])
        self.positions = torch.cat([self.positions, positions])
        self.pad = torch.cat([self.pad, torch.full_like(positions, by)])
        padding = torch.full((count, by), self.prompt[0], dtype=torch.long, device=embeds.device)
        self.sequences = torch.cat([self.sequences, torch.cat([padding, prompt], dim=1)])
        self.rows = self.rows + lives

    def _select(self, keep: list[int]) -> None:
        """Keeps rows ``keep`` and drops the padding every remaining row shares."""
        self.rows = [self.rows[k] for k in keep]
        if not self.rows:
            self.past = None
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.embeds.device)
        self.past.batch_select_indices(index)
        self.embeds, self.next_tokens = self.embeds[index], self.next_tokens[index]
        self.positions, self.pad, self.sequences = (
            self.positions[index],
            self.pad[index],
            self.sequences[index],
        )
        shared = int(self.pad.min())
        if shared:
            for layer in _layers(self.past):
                layer.keys, layer.values = layer.keys[:, :, shared:], layer.values[:, :, shared:]
            self.pad = self.pad - shared
            self.sequences = self.sequences[:, shared:]


def _layers(past: Any) -> list[Any]:
    """The self-attention cache layers (keys and values: batch x heads x length x dim)."""
    return list(past.self_attention_cache.layers)


def _cross_layers(past: Any) -> list[Any]:
    return list(past.cross_attention_cache.layers)


def _left_pad(tensor: torch.Tensor, by: int) -> torch.Tensor:
    return F.pad(tensor, (0, 0, by, 0)) if by else tensor
