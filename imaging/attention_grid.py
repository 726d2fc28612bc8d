"""Renders a caption's cross-attention as a grid of per-word heatmaps over the
image, each tile titled with its word (``imaging caption --attention-map``).

Tokens are merged into words first (WordPiece "##" pieces join the word before
them; SentencePiece/BPE pieces start a word at their space marker), and a
word's map is the mean of its tokens' maps. Each tile is normalised to its own
peak and painted with ``imaging.colormap.overlay``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont, ImageOps

from imaging.colormap import DEFAULT_MAX_ALPHA, colorbar, overlay

_WORD_STARTS = ("▁", "Ġ", " ")  # SentencePiece, byte-level BPE, decoded text
_CONTINUES = "##"  # WordPiece (BERT, BLIP)
_SPECIAL = {"[SEP]", "[CLS]", "[PAD]", "[DEC]", "</s>", "<s>", "<pad>"}


@dataclass(frozen=True)
class WordMap:
    """A word of the caption and its attention grid (grid_height x grid_width)."""

    word: str
    weights: NDArray[np.float32]


def word_maps(texts: Sequence[str], maps: NDArray[np.float32]) -> list[WordMap]:
    """Merges per-token texts and maps (tokens x H x W) into per-word maps."""
    if len(texts) != len(maps):
        raise ValueError(f"{len(texts)} token texts but {len(maps)} maps")
    marks_starts = any(text.startswith(_WORD_STARTS) for text in texts)
    words: list[tuple[str, list[NDArray[np.float32]]]] = []
    for text, grid in zip(texts, maps, strict=True):
        if text in _SPECIAL or not text.strip():
            continue
        if marks_starts:
            starts = text.startswith(_WORD_STARTS) or not words
            piece = text.lstrip("".join(_WORD_STARTS))
        else:
            starts = not text.startswith(_CONTINUES) or not words
            piece = text.removeprefix(_CONTINUES)
        if starts:
            words.append((piece, [grid]))
        else:
            words[-1] = (words[-1][0] + piece, [*words[-1][1], grid])
    return [WordMap(word, np.mean(np.stack(grids), axis=0).astype(np.float32)) for word, grids in words]


def covered_region(image: Image.Image, resize: str | None) -> Image.Image:
    """The picture the patch grid covers, as the server fitted ``image`` to its
    square input: the whole image stretched, its centre crop, or its letterbox."""
    rgb = ImageOps.exif_transpose(image).convert("RGB")
    side = min(rgb.size)
    if resize == "center_crop":
        return ImageOps.fit(rgb, (side, side), Image.Resampling.BICUBIC)
    if resize == "letterbox":
        longest = max(rgb.size)
        return ImageOps.pad(rgb, (longest, longest), Image.Resampling.BICUBIC, color=(255, 255, 255))
    return rgb


def render_grid(
    image: Image.Image,
    words: Sequence[WordMap],
    tile_px: int = 192,
    columns: int = 4,
    max_alpha: float = DEFAULT_MAX_ALPHA,
) -> Image.Image:
    """The image, then one heatmap tile per word, ``columns`` to a row, each
    titled; a viridis legend (low to high attention) runs along the bottom."""
    font = ImageFont.load_default(size=max(10, tile_px // 12))
    title_px = max(14, tile_px // 8)
    pad = max(4, tile_px // 32)
    base = image.convert("RGB").resize((tile_px, tile_px), Image.Resampling.BICUBIC)
    tiles: list[tuple[str, Image.Image]] = [("(image)", base)]
    tiles += [(w.word, overlay(base, w.weights, max_alpha)) for w in words]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    cell_w, cell_h = tile_px + pad, tile_px + title_px + pad
    legend_h = max(8, tile_px // 16)
    width = pad + columns * cell_w
    height = pad + rows * cell_h + legend_h + title_px + pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for n, (title, tile) in enumerate(tiles):
        x = pad + (n % columns) * cell_w
        y = pad + (n // columns) * cell_h
        draw.text((x + tile_px // 2, y + title_px // 2), title, fill=(0, 0, 0), font=font, anchor="mm")
        canvas.paste(tile, (x, y + title_px))
    legend_y = pad + rows * cell_h
    legend_w = width - 2 * pad
    canvas.paste(colorbar(legend_w, legend_h), (pad, legend_y))
    draw.text((pad, legend_y + legend_h + 2), "low attention", fill=(0, 0, 0), font=font, anchor="la")
    draw.text((width - pad, legend_y + legend_h + 2), "high", fill=(0, 0, 0), font=font, anchor="ra")
    return canvas
