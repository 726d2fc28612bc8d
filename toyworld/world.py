"""The toy world: seeded scenes of one or two coloured shapes with captions.

Every scene is a pure function of its integer seed, so a split is a range of
seeds and the test split is never trained on. Captions come in English and
French from fixed templates; French nouns here are all masculine, so the
adjectives need no agreement.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 210, 20),
    "purple": (140, 40, 180),
    "orange": (250, 130, 10),
}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "big")
POSITIONS = ("left", "middle", "right")

COLOURS_FR = {
    "red": "rouge",
    "green": "vert",
    "blue": "bleu",
    "yellow": "jaune",
    "purple": "violet",
    "orange": "orange",
}
SHAPES_FR = {"circle": "cercle", "square": "carré", "triangle": "triangle"}
SIZES_FR = {"small": "petit", "big": "grand"}
POSITIONS_FR = {"left": "à gauche", "middle": "au milieu", "right": "à droite"}
POSITIONS_EN = {"left": "on the left", "middle": "in the middle", "right": "on the right"}

# Seed ranges of the three splits: disjoint, so held-out scenes stay held out.
SPLIT_SEED_START = {"train": 0, "validation": 10_000_000, "test": 20_000_000}
SPLIT_SIZE_LIMIT = 10_000_000

Split = Literal["train", "validation", "test"]

DEFAULT_SIZE_PX = 64
_RADIUS_FRACTION = {"small": (0.10, 0.13), "big": (0.19, 0.23)}
_CENTRE_X_FRACTION = {"left": 0.25, "middle": 0.5, "right": 0.75}


@dataclass(frozen=True)
class Shape:
    """One object of a scene; ``position`` is its horizontal third."""

    colour: str
    shape: str
    size: str
    position: str


@dataclass(frozen=True)
class Scene:
    """A scene: one shape (left, middle or right) or two (left and right).

    ``jitter`` holds the continuous draws (offsets, radii, background level)
    so that rendering is a pure function of the scene.
    """

    seed: int
    objects: tuple[Shape, ...]
    background: int
    jitter: tuple[float, ...]


def sample_scene(seed: int, two_object_fraction: float = 0.5) -> Scene:
    """Returns the scene of ``seed``; about ``two_object_fraction`` hold two shapes."""
    rng = random.Random(seed)

    def pick(position: str) -> Shape:
        return Shape(
            colour=rng.choice(list(COLOURS)),
            shape=rng.choice(SHAPES),
            size=rng.choice(SIZES),
            position=position,
        )

    if rng.random() < two_object_fraction:
        objects: tuple[Shape, ...] = (pick("left"), pick("right"))
    else:
        objects = (pick(rng.choice(POSITIONS)),)
    background = rng.randint(225, 250)
    jitter = tuple(rng.random() for _ in range(3 * len(objects)))
    return Scene(seed=seed, objects=objects, background=background, jitter=jitter)


def split_seeds(split: Split, count: int, offset: int = 0) -> range:
    """Returns ``count`` seeds of ``split`` starting ``offset`` seeds into it."""
    if offset + count > SPLIT_SIZE_LIMIT:
        raise ValueError(f"a split holds at most {SPLIT_SIZE_LIMIT} seeds")
    start = SPLIT_SEED_START[split] + offset
    return range(start, start + count)


def render(scene: Scene, size_px: int = DEFAULT_SIZE_PX) -> Image.Image:
    """Draws ``scene`` as an RGB image of ``size_px`` x ``size_px`` pixels."""
    grey = scene.background
    image = Image.new("RGB", (size_px, size_px), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    for index, obj in enumerate(scene.objects):
        jx, jy, jr = scene.jitter[3 * index : 3 * index + 3]
        lo, hi = _RADIUS_FRACTION[obj.size]
        radius = size_px * (lo + (hi - lo) * jr)
        cx = size_px * _CENTRE_X_FRACTION[obj.position] + (jx - 0.5) * size_px * 0.08
        cy = size_px * 0.5 + (jy - 0.5) * size_px * 0.3
        colour = COLOURS[obj.colour]
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if obj.shape == "circle":
            draw.ellipse(box, fill=colour)
        elif obj.shape == "square":
            side = radius * 0.9
            draw.rectangle((cx - side, cy - side, cx + side, cy + side), fill=colour)
        else:
            draw.polygon(
                [(cx, cy - radius), (cx - radius, cy + radius * 0.8), (cx + radius, cy + radius * 0.8)],
                fill=colour,
            )
    return image


def _phrase_en(obj: Shape) -> str:
    return f"a {obj.size} {obj.colour} {obj.shape} {POSITIONS_EN[obj.position]}"


def _phrase_fr(obj: Shape) -> str:
    size, shape, colour = SIZES_FR[obj.size], SHAPES_FR[obj.shape], COLOURS_FR[obj.colour]
    return f"un {size} {shape} {colour} {POSITIONS_FR[obj.position]}"


def caption_en(scene: Scene) -> str:
    """Returns the English caption, e.g. "a big red circle on the left and a
    small blue square on the right"."""
    return " and ".join(_phrase_en(obj) for obj in scene.objects)


def caption_fr(scene: Scene) -> str:
    """Returns the French caption, e.g. "un grand cercle rouge à gauche et un
    petit carré bleu à droite"."""
    return " et ".join(_phrase_fr(obj) for obj in scene.objects)


def vocabulary() -> list[str]:
    """Returns every word either caption language can use, sorted."""
    words: set[str] = {"a", "and", "on", "the", "in", "un", "et", "à", "au"}
    words.update(COLOURS, SHAPES, SIZES, POSITIONS)
    words.update(COLOURS_FR.values(), SHAPES_FR.values(), SIZES_FR.values())
    for phrase in (*POSITIONS_EN.values(), *POSITIONS_FR.values()):
        words.update(phrase.split())
    return sorted(words)
