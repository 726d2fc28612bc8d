"""Token-by-token decoding of a batch, with streaming, stop sequences and
per-row cancellation.

Greedy and sampling run an explicit loop over the BLIP text decoder with a
KV cache (the arithmetic of ``generate()``; ``captioner_svc.continuous``), so
every token is handed to its caller as soon as it exists, rows join the
running batch at any step, and a row whose caller left or finished is cut
from the batch (cache included) while the others go on. This module holds
what one row needs: its state, its text and its stop sequences. Beam search
uses ``generate()`` itself: a beam's prefix is not final until the end, so
its tokens are sent together once decoding ends.

Runs on the model's worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import (
    LogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from captioner_svc.options import CaptionResult, DecodeOptions, Finish, Strategy, TokenEvent
from captioner_svc.vision_tower import encode_images
from serving.compute import Row


@dataclass
class RowState:
    """Decoding state of one image of the batch."""

    generator: torch.Generator | None
    token_ids: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    sent_text: str = ""
    finish: Finish | None = None
    text: str = ""


class Detokenizer:
    """Turns growing token lists into caption text, holding back text that may
    still become a stop sequence, so the streamed pieces always add up to the
    final caption."""

    def __init__(self, tokenizer: Any, prefix: str, stop_sequences: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.prefix = prefix
        self.prefix_ids: list[int] = tokenizer(prefix, add_special_tokens=False).input_ids if prefix else []
        self.stop_sequences = tuple(stop_sequences)
        self._decoded_prefix = self._decode(self.prefix_ids)

    def _decode(self, token_ids: Sequence[int]) -> str:
        return str(
            self.tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        )

    def full_text(self, token_ids: Sequence[int]) -> str:
        """The caption for ``token_ids``: the prefix as sent, then what the tokens add."""
        continuation = self._continuation(token_ids)
        if not self.prefix:
            return continuation.strip()
        return (self.prefix + continuation).rstrip() if continuation.strip() else self.prefix

    def _continuation(self, token_ids: Sequence[int]) -> str:
        """The text ``token_ids`` add after the prefix, led by a space where a new word starts."""
        in_context = self._decode([*self.prefix_ids, *token_ids])
        if self._decoded_prefix and in_context.startswith(self._decoded_prefix):
            # Decoded after the prefix, a word piece may join its last word.
            return in_context[len(self._decoded_prefix) :]
        # The prefix decodes to nothing (unknown words are dropped as [UNK]) or
        # differently in context: the tokens start a new word after it.
        return " " + self._decode(token_ids).lstrip()

    def cut_at_stop(self, text: str) -> str | None:
        """The text exactly before the first stop sequence after the prefix, or None if none occurs."""
        cuts = [text.find(s, len(self.prefix)) for s in self.stop_sequences]
        found = [c for c in cuts if c >= 0]
        return text[: min(found)] if found else None

    def safe_length(self, text: str) -> int:
        """How much of ``text`` can be sent: all but a tail that starts a stop sequence."""
        for start in range(
            max(len(self.prefix), len(text) - max(map(len, self.stop_sequences), default=0)), len(text)
        ):
            tail = text[start:]
            if any(s.startswith(tail) for s in self.stop_sequences):
                return start
        return len(text)


def penalty_and_warpers(options: DecodeOptions) -> tuple[LogitsProcessor | None, list[LogitsProcessor]]:
    """The repetition penalty (applied before min_new_tokens hides end-of-sequence)
    and the sampling warpers (after), as ``generate()`` orders them."""
    penalty = (
        RepetitionPenaltyLogitsProcessor(options.repetition_penalty)
        if options.repetition_penalty != 1.0
        else None
    )
    warpers: list[LogitsProcessor] = []
    if options.strategy is Strategy.SAMPLING:
        if options.temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(options.temperature))
        if options.top_k > 0:
            warpers.append(TopKLogitsWarper(options.top_k))
        if options.top_p < 1.0:
            warpers.append(TopPLogitsWarper(options.top_p))
    return penalty, warpers


def advance_row(
    state: RowState, row: Row, detok: Detokenizer, token: int, log_prob: float, eos_id: int, last_step: bool
) -> None:
    """Appends ``token`` to a row, streams its text and decides whether the row is done."""
    if token == eos_id:
        state.finish = Finish.END_OF_SEQUENCE
        state.text = detok.full_text(state.token_ids)
        if row.streaming:
            _send(state, row, detok, token, log_prob, final=True, counted=False)
        return
    state.token_ids.append(token)
    state.log_probs.append(log_prob)
    if not row.streaming and not detok.stop_sequences:
        # Nobody reads the text before the row ends: decode it once, then.
        if last_step:
            state.finish, state.text = Finish.LENGTH, detok.full_text(state.token_ids)
        return
    text = detok.full_text(state.token_ids)
    stopped = detok.cut_at_stop(text)
    if stopped is not None:
        state.finish, state.text = Finish.STOP_SEQUENCE, stopped
    elif last_step:
        state.finish, state.text = Finish.LENGTH, text
    else:
        state.text = text
    _send(state, row, detok, token, log_prob, final=state.finish is not None, counted=True)


def _send(
    state: RowState, row: Row, detok: Detokenizer, token: int, log_prob: float, final: bool, counted: bool
) -> None:
    """Emits the text this step adds; the final step flushes whatever was held back."""
    target = state.text if final else state.text[: detok.safe_length(state.text)]
    if not target.startswith(state.sent_text):
        if not final:
            return  # decoding rewrote earlier text (rare); wait for the final flush
        target = state.sent_text + target[len(state.sent_text) :]
    piece = target[len(state.sent_text) :]
    if not counted and not piece:
        return
    state.sent_text = target
    index = len(state.token_ids) - 1 if counted else len(state.token_ids)
    row.emit(TokenEvent(token_id=token, text=piece, index=index, log_probability=log_prob))


class _AllCancelled(StoppingCriteria):
    """Stops beam search once every caller of the batch has left."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = rows

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        done = all(row.cancelled for row in self.rows)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


@torch.inference_mode()
def decode_beam_search(
    model: Any,
    detok: Detokenizer,
    pixel_values: torch.Tensor,
    options: DecodeOptions,
    rows: Sequence[Row],
    encode_s: float,
) -> list[CaptionResult | None]:
    """Beam-search captions through ``generate()``; tokens are emitted at the end."""
    started = time.perf_counter()
    config = model.config.text_config
    kwargs: dict[str, Any] = {
        "num_beams": options.beam_count,
        "do_sample": False,
        "max_new_tokens": options.max_new_tokens,
        "min_new_tokens": options.min_new_tokens,
        "length_penalty": options.length_penalty,
        "early_stopping": options.early_stopping,
        "repetition_penalty": options.repetition_penalty,
        "stopping_criteria": StoppingCriteriaList([_AllCancelled(rows)]),
    }
    batch = pixel_values.shape[0]
    prompt = [config.bos_token_id, *detok.prefix_ids, config.sep_token_id]
    input_ids = torch.tensor([prompt] * batch, dtype=torch.long, device=pixel_values.device)
    output = model.generate(pixel_values=pixel_values, input_ids=input_ids, **kwargs)
    generated = output[:, len(prompt) - 1 :]
    scores = _sequence_log_probs(model, pixel_values, output, len(prompt) - 1)
    decode_s = time.perf_counter() - started
    results: list[CaptionResult | None] = []
    for b, row in enumerate(rows):
        if row.cancelled:
            results.append(None)  # its caller left: as serving.compute says
            continue
        ids: list[int] = []
        finish = Finish.LENGTH
        for token in generated[b].tolist():
            if token == config.sep_token_id:
                finish = Finish.END_OF_SEQUENCE
                break
            if token == config.pad_token_id:
                continue
            ids.append(token)
        text = detok.full_text(ids)
        stopped = detok.cut_at_stop(text)
        if stopped is not None:
            text, finish = stopped, Finish.STOP_SEQUENCE
        # A beam is final only now: stream its tokens at once, pieces adding up to the text.
        sent = ""
        for position, token in enumerate(ids):
            last = position == len(ids) - 1
            partial = text if last else detok.full_text(ids[: position + 1])
            target = partial if last or text.startswith(partial) else sent
            row.emit(TokenEvent(token, target[len(sent) :], position, scores[b][position]))
            sent = target
        mean = sum(scores[b][: len(ids)]) / len(ids) if ids else 0.0
        results.append(CaptionResult(text, tuple(ids), finish, mean, encode_s, decode_s))
    return results


def _sequence_log_probs(
    model: Any, pixel_values: torch.Tensor, sequences: torch.Tensor, start: int
) -> list[list[float]]:
    """Log-probability of each generated token under the model (teacher forcing)."""
    image_embeds = encode_images(model.vision_model, pixel_values)
    logits = model.text_decoder(input_ids=sequences, encoder_hidden_states=image_embeds).logits.float()
    log_probs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, sequences[:, 1:, None])[..., 0]
    return log_probs[:, start - 1 :].tolist()
