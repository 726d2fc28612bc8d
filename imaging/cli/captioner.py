"""``imaging caption``, ``imaging embed`` and ``imaging match``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from PIL import Image
from rich.markup import escape
from rich.table import Table

from imaging.attention_grid import covered_region, render_grid, word_maps
from imaging.cli._state import state_of, stdout
from imaging.client import CaptionerClient, Decoding, ResizeMode


class Resize(StrEnum):
    stretch = "stretch"
    center_crop = "center_crop"
    letterbox = "letterbox"


_MODES: dict[Resize, ResizeMode] = {
    Resize.stretch: "stretch",
    Resize.center_crop: "center_crop",
    Resize.letterbox: "letterbox",
}


def _mode(resize: Resize | None) -> ResizeMode | None:
    return _MODES[resize] if resize is not None else None


_Images = Annotated[
    list[Path],
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="Image files (PNG, JPEG, WebP, BMP, GIF)."
    ),
]
_ResizeOption = Annotated[
    Resize | None, typer.Option("--resize", help="How images are fitted to the model's square input.")
]


def caption(
    ctx: typer.Context,
    images: _Images,
    stream: Annotated[bool, typer.Option("--stream", help="Show tokens as they are decoded.")] = False,
    beams: Annotated[
        int | None, typer.Option("--beams", min=1, max=10, help="Beam search with N beams.")
    ] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Sample instead of decoding greedily.")] = False,
    top_p: Annotated[
        float | None, typer.Option("--top-p", help="Nucleus mass when sampling, (0, 1].")
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Keep the k most probable tokens.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed (image i uses seed + i).")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Tokens at most.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Text the caption must start with.")] = "",
    adapter: Annotated[str, typer.Option("--adapter", help="A LoRA adapter of the captioner.")] = "",
    resize: _ResizeOption = None,
    attention_map: Annotated[
        Path | None,
        typer.Option(
            "--attention-map",
            dir_okay=False,
            help="Write a grid of per-word attention heatmaps over the image to this PNG "
            "(one file per image: OUT-1.png, OUT-2.png ... for several).",
        ),
    ] = None,
) -> None:
    """Caption images, optionally streaming tokens and drawing what each word looked at."""
    decoding = _decoding(beams, sample, top_p, top_k, temperature, seed, max_tokens)
    mode = _mode(resize)
    out = stdout()
    with state_of(ctx).client() as client:
        if stream:
            texts = []
            for path in images:
                if len(images) > 1:
                    out.print(f"[bold]{escape(str(path))}[/bold]: ", end="", highlight=False)
                tokens = client.captioner.stream_caption(
                    path, decoding=decoding, prefix=prefix, adapter=adapter, resize=mode
                )
                for token in tokens:
                    out.print(token.text, end="", markup=False, highlight=False)
                out.print()
                texts.append(tokens.result.text)
        else:
            result = client.captioner.caption(
                *images, decoding=decoding, prefix=prefix, adapter=adapter, resize=mode
            )
            texts = [c.text for c in result.captions]
            if len(images) == 1:
                out.print(texts[0], markup=False, highlight=False)
            else:
                table = Table("image", "caption")
                for path, text in zip(images, texts, strict=True):
                    table.add_row(escape(str(path)), escape(text))
                out.print(table)
        if attention_map is not None:
            for n, (path, text) in enumerate(zip(images, texts, strict=True), start=1):
                target = attention_map
                if len(images) > 1:
                    target = attention_map.with_name(
                        f"{attention_map.stem}-{n}{attention_map.suffix or '.png'}"
                    )
                _write_attention_map(client.captioner, path, text, mode, target)
                out.print(f"attention map of {escape(repr(text))}: {escape(str(target))}", highlight=False)


def _decoding(
    beams: int | None,
    sample: bool,
    top_p: float | None,
    top_k: int | None,
    temperature: float | None,
    seed: int | None,
    max_tokens: int | None,
) -> Decoding | None:
    if beams is not None and sample:
        raise typer.BadParameter("choose --beams or --sample, not both")
    if not sample and (top_p is not None or top_k is not None or temperature is not None):
        raise typer.BadParameter("--top-p, --top-k and --temperature need --sample")
    if sample:
        return Decoding.sampling(
            temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, max_new_tokens=max_tokens
        )
    if beams is not None:
        return Decoding.beam_search(beams, max_new_tokens=max_tokens)
    if max_tokens is not None or seed is not None:
        return Decoding(max_new_tokens=max_tokens, seed=seed)
    return None


def _write_attention_map(
    captioner: CaptionerClient, path: Path, caption_text: str, mode: ResizeMode | None, target: Path
) -> None:
    attention = captioner.attention(path, caption=caption_text, resize=mode)
    words = word_maps([t.text for t in attention.tokens], attention.mean())
    with Image.open(path) as opened:
        region = covered_region(opened, mode)
    render_grid(region, words).save(target, format="PNG")


def embed(
    ctx: typer.Context,
    images: Annotated[
        list[Path] | None,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="Image files to embed."),
    ] = None,
    text: Annotated[
        list[str] | None, typer.Option("--text", "-t", help="A text to embed (repeatable).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Save the vectors (images, then texts) as .npy."),
    ] = None,
    resize: _ResizeOption = None,
) -> None:
    """Embed images and texts into the shared space; print vectors and cosine similarities."""
    paths, texts = images or [], text or []
    if not paths and not texts:
        raise typer.BadParameter("give images, --text, or both")
    mode = _mode(resize)
    rows: list[tuple[str, str, np.ndarray]] = []
    with state_of(ctx).client() as client:
        if paths:
            vectors = client.captioner.embed_images(*paths, resize=mode).vectors
            rows += [("image", str(p), v) for p, v in zip(paths, vectors, strict=True)]
        if texts:
            vectors = client.captioner.embed_texts(*texts).vectors
            rows += [("text", s, v) for s, v in zip(texts, vectors, strict=True)]
    out = stdout()
    table = Table("kind", "input", "dim", "vector", title="embeddings (L2-normalised)")
    for kind, name, vector in rows:
        head = ", ".join(f"{x:+.3f}" for x in vector[:4])
        table.add_row(kind, escape(name), str(vector.shape[0]), f"[{head}, ...]")
    out.print(table)
    if paths and texts:
        similarity = Table("image \\ text", *(escape(s) for s in texts), title="cosine similarity")
        image_rows = [r for r in rows if r[0] == "image"]
        text_rows = [r for r in rows if r[0] == "text"]
        for _, name, vector in image_rows:
            similarity.add_row(escape(name), *(f"{float(vector @ t[2]):+.3f}" for t in text_rows))
        out.print(similarity)
    if output is not None:
        np.save(output, np.stack([r[2] for r in rows]))
        out.print(f"saved {len(rows)} vectors to {escape(str(output))}", highlight=False)


def match(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The image.")],
    texts: Annotated[list[str], typer.Argument(help="Candidate descriptions.")],
    resize: _ResizeOption = None,
) -> None:
    """Rank texts by how well they describe an image."""
    mode = _mode(resize)
    with state_of(ctx).client() as client:
        result = client.captioner.match(image, *texts, resize=mode)
    table = Table("rank", "text", "match", "", "similarity", title=escape(str(image)))
    for rank, m in enumerate(result.ranked(), start=1):
        bar = "█" * round(m.match_probability * 20)
        probability = (
            f"{m.match_probability:.1%}" if m.match_probability >= 0.001 else f"{m.match_probability:.1e}"
        )
        table.add_row(str(rank), escape(m.text), probability, bar, f"{m.similarity:+.3f}")
    stdout().print(table)
