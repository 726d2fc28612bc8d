"""The BLIP engine: loads the checkpoints once and computes on tensors.

Pure compute, no transport: it imports torch and transformers, never grpc or
the generated stubs. Every public method runs on the model's worker thread
(``serving.worker.ModelWorker``), one at a time, which is also what makes
switching LoRA adapters per batch safe.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval, BlipProcessor

from captioner_svc.continuous import FinishFn, RunningDecode
from captioner_svc.decoding import Detokenizer, decode_beam_search
from captioner_svc.normalize import Normalizer
from captioner_svc.options import AttentionResult, CaptionJob, CaptionResult, DecodeOptions, Strategy
from captioner_svc.vision_tower import encode_images
from serving.compute import DtypeName, Inbox, Row, torch_dtype

_LOGGER = logging.getLogger(__name__)


# ``CaptionEngine.caption``'s signature: (options, jobs, rows, inbox, on_finish, on_encode) -> results.
CaptionFn = Callable[
    [
        DecodeOptions,
        Sequence[CaptionJob],
        Sequence[Row],
        Inbox | None,
        FinishFn | None,
        Callable[[float], None] | None,
    ],
    list[CaptionResult | None],
]


def _time_to_join(joinable: int, active: int, steps_since_join: int, join_after_steps: int) -> bool:
    """Continuous batching: admitting calls pauses every running row for an image
    encode and a prefill, whose cost hardly depends on how many join, so calls
    join when at least as many can join as decode, or at the latest after
    ``join_after_steps`` tokens (as TGI's waiting_served_ratio and
    max_waiting_tokens): joins come in groups, not one call per step."""
    return joinable > 0 and (joinable >= active or steps_since_join >= join_after_steps)


@dataclass(frozen=True)
class EngineConfig:
    """Where the checkpoints are and how to run them.

    ``caption_model`` / ``retrieval_model``: a checkpoint directory or hub id;
    empty disables the capabilities that need it. ``adapters`` maps a request
    name to a LoRA adapter directory on the caption model. ``cpu_threads`` > 0
    sets torch's intra-op thread count (process-wide) when loading.
    ``join_after_steps``: how long calls may wait to join a running decode (``_time_to_join``).
    """

    caption_model: str = ""
    retrieval_model: str = ""
    adapters: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    dtype: DtypeName = "float32"
    cpu_threads: int = 0
    join_after_steps: int = 16


@dataclass(frozen=True)
class ModelFacts:
    """What discovery reports; fixed once loaded."""

    image_size_px: int
    patch_size_px: int
    decoder_layers: int
    decoder_heads: int
    embedding_dimension: int
    # Token positions of the text decoder: BOS, prefix and caption together.
    decoder_positions: int

    @property
    def grid_side(self) -> int:
        return self.image_size_px // self.patch_size_px


class CaptionEngine:
    """BLIP captioning (``BlipForConditionalGeneration``) and retrieval
    (``BlipForImageTextRetrieval``) on one device."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.dtype = torch_dtype(config.dtype)
        self.captioner: Any = None
        self.caption_processor: Any = None
        self.retriever: Any = None
        self.retrieval_processor: Any = None
        self._peft: Any = None
        self._counting_tokenizer: Any = None
        self.facts: ModelFacts | None = None
        # Resize-and-normalise for prepared caption images, off the worker thread; None: the processor's.
        self.caption_normalizer: Normalizer | None = None
        # The adapters with LoRA layers in the vision tower too (most touch the text decoder only).
        self.vision_adapters: frozenset[str] = frozenset()

    # -- loading --------------------------------------------------------------------

    def load(self) -> None:
        """Loads every configured checkpoint (worker thread; may take minutes)."""
        started = time.perf_counter()
        if self.config.cpu_threads:
            torch.set_num_threads(self.config.cpu_threads)
        if self.config.caption_model:
            self.caption_processor = BlipProcessor.from_pretrained(self.config.caption_model)
            self.captioner = self._load(BlipForConditionalGeneration, self.config.caption_model)
            # Requests are measured on the event loop while the worker decodes: a
            # fast tokenizer is not safe to share between threads, so that gets its own.
            self._counting_tokenizer = copy.deepcopy(self.caption_processor.tokenizer)
            self.caption_normalizer = Normalizer.of(self.caption_processor.image_processor)
            self._load_adapters()
        if self.config.retrieval_model:
            self.retrieval_processor = BlipProcessor.from_pretrained(self.config.retrieval_model)
            self.retriever = self._load(BlipForImageTextRetrieval, self.config.retrieval_model)
        reference = self.captioner or self.retriever
        if reference is not None:
            vision = reference.config.vision_config
            text = reference.config.text_config
            self.facts = ModelFacts(
                image_size_px=vision.image_size,
                patch_size_px=vision.patch_size,
                decoder_layers=text.num_hidden_layers,
                decoder_heads=text.num_attention_heads,
                embedding_dimension=self.retriever.config.image_text_hidden_size if self.retriever else 0,
                decoder_positions=text.max_position_embeddings,
            )
        _LOGGER.info("models loaded", extra={"seconds": round(time.perf_counter() - started, 2)})

    def _load(self, cls: Any, source: str) -> Any:
        model = cls.from_pretrained(source, dtype=self.dtype)
        return model.to(self.device).eval()

    def _load_adapters(self) -> None:
        if not self.config.adapters:
            return
        from peft import PeftModel  # only needed when adapters are configured

        for name, path in self.config.adapters.items():
            if self._peft is None:
                # Injects LoRA layers into self.captioner in place; calls below keep using it.
                self._peft = PeftModel.from_pretrained(self.captioner, path, adapter_name=name)
            else:
                self._peft.load_adapter(path, adapter_name=name)
        self._peft.eval()
        self.vision_adapters = frozenset(
            name
            for module in self.captioner.vision_model.modules()
            if isinstance(getattr(module, "lora_A", None), torch.nn.ModuleDict)
            for name in module.lora_A
        )

    def close(self) -> None:
        self.captioner = self.retriever = self._peft = None

    @property
    def adapter_names(self) -> list[str]:
        return sorted(self.config.adapters)

    @contextlib.contextmanager
    def _adapter(self, name: str) -> Iterator[None]:
        """Runs the block with adapter ``name`` active, or with none for ""."""
        if self._peft is None:
            yield
        elif name:
            self._peft.set_adapter(name)
            yield
        else:
            with self._peft.disable_adapter():
                yield

    def token_count(self, text: str) -> int:
        """How many caption-decoder tokens ``text`` takes, special tokens excluded (any thread)."""
        if not text:
            return 0
        return len(self._counting_tokenizer(text, add_special_tokens=False).input_ids)

    # -- captions ---------------------------------------------------------------------

    def pixel_values(self, processor: Any, images: Sequence[Image.Image]) -> torch.Tensor:
        """Normalised model input for images already fitted to the input size."""
        pixels = processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, self.dtype)

    def _caption_pixels(self, jobs: Sequence[CaptionJob]) -> torch.Tensor:
        prepared = [job.pixels for job in jobs if job.pixels is not None]
        if len(prepared) == len(jobs):
            return torch.from_numpy(np.stack(prepared)).to(self.device, self.dtype)
        return self.pixel_values(self.caption_processor, [job.image for job in jobs])

    @torch.inference_mode()
    def caption(
        self,
        options: DecodeOptions,
        jobs: Sequence[CaptionJob],
        rows: Sequence[Row],
        inbox: Inbox | None = None,
        on_finish: FinishFn | None = None,
        on_encode: Callable[[float], None] | None = None,
    ) -> list[CaptionResult | None]:
        """Captions a batch of compatible jobs; ``rows[i]`` streams and cancels job i
        (a cancelled job's result is None). With an ``inbox``, calls of the same
        options join the decode while it runs; ``on_finish`` hears of every row
        as it ends (joined rows only that way), ``on_encode`` of the seconds of
        every group's image encoding (the batch's, then each joining group's)."""
        started = time.perf_counter()
        detok = Detokenizer(self.caption_processor.tokenizer, options.prefix, options.stop_sequences)
        report = on_encode or (lambda seconds: None)
        with self._adapter(options.adapter):
            if options.strategy is Strategy.BEAM_SEARCH:
                # Beam batches share one length (``CaptionKey.of``): the options carry it.
                pixels = self._caption_pixels(jobs)
                encode_s = time.perf_counter() - started
                report(encode_s)
                return decode_beam_search(self.captioner, detok, pixels, options, rows, encode_s)
            decode = RunningDecode(self.captioner, detok, options, on_finish)
            report(self._admit(decode, jobs, rows))
            steps_since_join = 0
            while decode.rows:
                active = len(decode.rows)
                if inbox is not None and _time_to_join(
                    inbox.joinable(active), active, steps_since_join, self.config.join_after_steps
                ):
                    joining = inbox.take(len(decode.rows))
                    if joining:
                        report(self._admit(decode, [item.payload for item in joining], joining))
                        steps_since_join = 0
                decode.step()
                steps_since_join += 1
            return [decode.results.get(id(row)) for row in rows]

    def _vision_tower(self, jobs: Sequence[CaptionJob]) -> torch.Tensor:
        """The vision tower's last hidden state for the jobs' images (images x tokens x hidden)."""
        return encode_images(self.captioner.vision_model, self._caption_pixels(jobs))

    @torch.inference_mode()
    def encode_jobs(self, adapter: str, jobs: Sequence[CaptionJob]) -> list[CaptionJob]:
        """The jobs with their images encoded by the vision tower under ``adapter``
        (which may have LoRA layers there too) as ``embeds`` and ``encode_s``, their
        pixels dropped: for a decode in another process."""
        started = time.perf_counter()
        with self._adapter(adapter):
            embeds = self._vision_tower(jobs).float().cpu().numpy()
        seconds = time.perf_counter() - started
        return [
            dataclasses.replace(job, pixels=None, embeds=row, encode_s=seconds)
            for job, row in zip(jobs, embeds, strict=True)
        ]

    def _admit(self, decode: RunningDecode, jobs: Sequence[CaptionJob], rows: Sequence[Row]) -> float:
        """Encodes the jobs' images and adds their rows to ``decode``; returns the
        encoding's seconds."""
        started = time.perf_counter()
        encoded = [job.embeds for job in jobs if job.embeds is not None]
        in_processes = 0.0
        if len(encoded) == len(jobs):  # encoded in an encoder process (captioner_svc.encoders)
            image_embeds = torch.from_numpy(np.stack(encoded)).to(self.device, self.dtype)
            # The tower's time there, so that the encode_image stage still measures the tower.
            in_processes = max(job.encode_s for job in jobs)
        else:
            image_embeds = self._vision_tower(jobs)
        limits = [job.limits(decode.options) for job in jobs]
        encode_s = in_processes + time.perf_counter() - started
        decode.admit(image_embeds, rows, [job.seed for job in jobs], limits, encode_s)
        return encode_s

    # -- cross-attention --------------------------------------------------------------

    @torch.inference_mode()
    def cross_attention(
        self,
        image: Image.Image,
        caption: str,
        layers: Sequence[int],
        per_head: bool,
    ) -> AttentionResult:
        """Cross-attention of every token of ``caption`` over the image patches.

        The map of token k is the attention of the decoder position that
        predicted it (the one before it), from a single teacher-forced pass;
        the vision CLS token is dropped, leaving the patch grid.
        """
        assert self.facts is not None
        tokenizer = self.caption_processor.tokenizer
        token_ids = tokenizer(caption, add_special_tokens=False).input_ids
        bos = self.captioner.config.text_config.bos_token_id
        input_ids = torch.tensor([[bos, *token_ids]], dtype=torch.long, device=self.device)
        pixels = self.pixel_values(self.caption_processor, [image])
        with self._adapter(""):
            image_embeds = encode_images(self.captioner.vision_model, pixels)
            out = self.captioner.text_decoder(
                input_ids=input_ids,
                encoder_hidden_states=image_embeds,
                output_attentions=True,
                return_dict=True,
            )
        chosen = list(layers) or list(range(self.facts.decoder_layers))
        side = self.facts.grid_side
        # (layers, heads, queries, 1 + patches) -> drop CLS -> queries that predicted each token.
        stacked = torch.stack([out.cross_attentions[i][0] for i in chosen]).float()[:, :, :, 1:]
        stacked = stacked[:, :, : len(token_ids), :]
        if not per_head:
            stacked = stacked.mean(dim=1, keepdim=True)
        # -> tokens x layers x heads x patches
        maps = stacked.permute(2, 0, 1, 3).cpu().tolist()
        texts = tuple(tokenizer.convert_ids_to_tokens(token_ids))
        return AttentionResult(
            caption=caption,
            token_ids=tuple(token_ids),
            token_texts=texts,
            maps=maps,
            layers=tuple(chosen),
            grid_height=side,
            grid_width=side,
            layer_count=self.facts.decoder_layers,
            head_count=self.facts.decoder_heads,
        )

    # -- embeddings and matching ------------------------------------------------------

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> list[list[float]]:
        """L2-normalised image embeddings in the shared space."""
        pixels = self.pixel_values(self.retrieval_processor, images)
        image_embeds = encode_images(self.retriever.vision_model, pixels)
        features = torch.nn.functional.normalize(
            self.retriever.vision_proj(image_embeds[:, 0, :]).float(), dim=-1
        )
        return features.cpu().tolist()

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """L2-normalised text embeddings in the shared space."""
        return self._text_features(texts).cpu().tolist()

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        encoded = self.retrieval_processor.tokenizer(list(texts), padding=True, return_tensors="pt").to(
            self.device
        )
        hidden = self.retriever.text_encoder(
            input_ids=encoded.input_ids, attention_mask=encoded.attention_mask
        ).last_hidden_state
        return torch.nn.functional.normalize(self.retriever.text_proj(hidden[:, 0, :]).float(), dim=-1)

    @torch.inference_mode()
    def match(self, image: Image.Image, texts: Sequence[str]) -> list[tuple[float, float]]:
        """(ITM match probability, cosine similarity) of ``image`` with each text."""
        pixels = self.pixel_values(self.retrieval_processor, [image])
        image_embeds = encode_images(self.retriever.vision_model, pixels)
        image_feature = torch.nn.functional.normalize(
            self.retriever.vision_proj(image_embeds[:, 0, :]).float(), dim=-1
        )
        encoded = self.retrieval_processor.tokenizer(list(texts), padding=True, return_tensors="pt").to(
            self.device
        )
        repeated = image_embeds.expand(len(texts), -1, -1)
        fused = self.retriever.text_encoder(
            input_ids=encoded.input_ids,
            attention_mask=encoded.attention_mask,
            encoder_hidden_states=repeated,
            encoder_attention_mask=torch.ones(repeated.shape[:-1], dtype=torch.long, device=self.device),
        ).last_hidden_state
        probability = self.retriever.itm_head(fused[:, 0, :]).float().softmax(dim=-1)[:, 1]
        similarity = self._text_features(texts) @ image_feature[0]
        return list(zip(probability.cpu().tolist(), similarity.cpu().tolist(), strict=True))
