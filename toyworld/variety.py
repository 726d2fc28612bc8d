"""World v2: the same scenes, drawn the way real image pipelines vary them.

A scene (``toyworld.world``) fixes what the caption says; its *look* here is a
pure function of the scene's seed and varies everything the caption does not
name: the canvas size and aspect ratio, the background (any brightness and
hue, plain, a two-tone gradient or low-contrast texture), each object's shade
of its named colour, exact size and position within their named bins, edges
(anti-aliased or hard), small rotations, blur, noise, JPEG compression and an
alpha channel. Trained on this, a checkpoint learns the world rather than one
renderer.

``render_other`` is a second, independent renderer (numpy rasterisation on a
dark or light plain background, fixed bin centres, pure colours) used only to
evaluate: it stands in for "drawn by a different program".
"""

from __future__ import annotations

import colorsys
import io
import math
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from toyworld.world import COLOURS, Scene, render

World = Literal["v1", "v2", "other"]
WORLDS: tuple[World, ...] = ("v2", "v1", "other")

# Continuous bins: radius as a fraction of the canvas's geometric mean side sqrt(width x height), so a
# shape's area after the processor stretches the canvas to a square does not depend on the aspect
# ratio (small and big stay apart in what the model sees); centre x as a fraction of the width.
_RADIUS_BIN = {"small": (0.085, 0.125), "big": (0.175, 0.235)}
_CENTRE_X = {"left": 0.25, "middle": 0.5, "right": 0.75}
_CENTRE_X_SPREAD = 0.06
_MAX_RADIUS = 0.26  # of the shorter side
# Hue jitter (fraction of the colour wheel) per named colour: tight where neighbours are close.
_HUE_JITTER = {"red": 0.018, "orange": 0.018, "yellow": 0.015, "green": 0.04, "blue": 0.035, "purple": 0.03}
# Lowest brightness (HSV value) per colour: darker yellow reads as olive, darker orange as brown.
_MIN_VALUE = {"red": 0.6, "orange": 0.85, "yellow": 0.88, "green": 0.55, "blue": 0.6, "purple": 0.6}
MIN_CONTRAST = 110.0  # Euclidean RGB distance between an object and the background under it
_SIDE_RANGE = (32, 512)


@dataclass(frozen=True)
class Look:
    """Everything about how a scene is drawn that its caption does not name."""

    width: int
    height: int
    background: tuple[str, tuple[int, int, int], tuple[int, int, int]]  # kind, colour a, colour b
    gradient_angle: float
    texture: float  # noise amplitude of a textured background (0: none)
    colours: tuple[tuple[int, int, int], ...]
    rotations: tuple[float, ...]  # degrees, squares and triangles only
    antialias: bool
    blur: float  # Gaussian radius in pixels of a 64-pixel canvas (scaled with the canvas)
    noise: float  # per-pixel Gaussian noise, in 0-255 units
    jpeg_quality: int | None
    alpha: Literal["none", "opaque", "transparent"]


def shade(name: str, rng: random.Random) -> tuple[int, int, int]:
    """A shade of the named colour that a person would still call by that name."""
    r, g, b = (c / 255 for c in COLOURS[name])
    hue, saturation, value = colorsys.rgb_to_hsv(r, g, b)
    hue = (hue + rng.uniform(-1, 1) * _HUE_JITTER[name]) % 1.0
    saturation = min(1.0, max(0.6, saturation * rng.uniform(0.72, 1.05)))
    value = min(1.0, max(_MIN_VALUE[name], value * rng.uniform(0.7, 1.1)))
    return _rgb(hue, saturation, value)


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(255 * r), round(255 * g), round(255 * b)


def background_colour(rng: random.Random) -> tuple[int, int, int]:
    """A background colour of any brightness and hue, black and white included."""
    roll = rng.random()
    if roll < 0.12:
        return (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
    if roll < 0.45:
        level = rng.randint(0, 255)
        return (level, level, level)
    return _rgb(rng.random(), rng.uniform(0.0, 0.55), rng.uniform(0.0, 1.0))


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return math.dist(a, b)


def sample_look(scene: Scene) -> Look:
    """The look of ``scene``: a pure function of its seed."""
    rng = random.Random(scene.seed * 2_654_435_761 + 97)
    if rng.random() < 0.15:
        width = height = 64
    else:
        width = round(math.exp(rng.uniform(math.log(_SIDE_RANGE[0]), math.log(_SIDE_RANGE[1]))))
        aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        height = min(_SIDE_RANGE[1], max(_SIDE_RANGE[0], round(width * aspect)))
    colours = tuple(shade(obj.colour, rng) for obj in scene.objects)
    kind = rng.choices(("plain", "gradient", "texture"), weights=(0.45, 0.3, 0.25))[0]
    for _ in range(50):
        a = background_colour(rng)
        b = background_colour(rng) if kind == "gradient" else a
        if all(min(_distance(c, a), _distance(c, b)) >= MIN_CONTRAST for c in colours):
            break
    else:  # no contrasting colour drawn: black or white, whichever is farther from the objects
        a = b = max(((0, 0, 0), (255, 255, 255)), key=lambda bg: min(_distance(c, bg) for c in colours))
    return Look(
        width=width,
        height=height,
        background=(kind, a, b),
        gradient_angle=rng.uniform(0, 2 * math.pi),
        texture=rng.uniform(4, 14) if kind == "texture" else 0.0,
        colours=colours,
        rotations=tuple(rng.uniform(-15, 15) for _ in scene.objects),
        antialias=rng.random() < 0.5,
        blur=rng.uniform(0.3, 1.0) if rng.random() < 0.25 else 0.0,
        noise=rng.uniform(2, 9) if rng.random() < 0.3 else 0.0,
        jpeg_quality=rng.randint(30, 95) if rng.random() < 0.4 else None,
        alpha=rng.choices(("none", "opaque", "transparent"), weights=(0.85, 0.07, 0.08))[0],
    )


def draw_background(look: Look, seed: int) -> np.ndarray:
    """``look``'s background (plain, gradient or texture) as a float (H, W, 3) array."""
    kind, a, b = look.background
    h, w = look.height, look.width
    canvas = np.empty((h, w, 3), dtype=np.float32)
    canvas[:] = a
    if kind == "gradient":
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = look.gradient_angle
        t = xs / max(w - 1, 1) * math.cos(angle) + ys / max(h - 1, 1) * math.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        canvas = (1 - t)[..., None] * np.array(a, np.float32) + t[..., None] * np.array(b, np.float32)
    elif kind == "texture":
        noise = np.random.default_rng(seed).normal(0.0, look.texture, (h // 4 + 1, w // 4 + 1, 1))
        coarse = Image.fromarray(np.clip(noise + 128, 0, 255).astype(np.uint8)[..., 0], "L")
        smooth = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32) - 128
        canvas = canvas + smooth[..., None]
    return canvas


def _geometry(scene: Scene, look: Look) -> list[tuple[float, float, float]]:
    """Centre x, centre y and radius in pixels of each object, kept inside the canvas and apart."""
    w, h = look.width, look.height
    short, mean_side = min(w, h), math.sqrt(w * h)
    placed: list[tuple[float, float, float]] = []
    for index, obj in enumerate(scene.objects):
        jx, jy, jr = scene.jitter[3 * index : 3 * index + 3]
        lo, hi = _RADIUS_BIN[obj.size]
        # Capped so that a shape fits its third of a narrow canvas.
        radius = min(mean_side * (lo + (hi - lo) * jr), _MAX_RADIUS * short)
        radius = max(radius, 3.0 if obj.size == "small" else 5.0)
        cx = w * (_CENTRE_X[obj.position] + (2 * jx - 1) * _CENTRE_X_SPREAD)
        cy = h * 0.5 + (2 * jy - 1) * max(0.0, h * 0.5 - radius * 1.15) * 0.8
        cx = min(max(cx, radius * 1.1), w - radius * 1.1)
        placed.append((cx, cy, radius))
    if len(placed) == 2:
        (lx, ly, lr), (rx, ry, rr) = placed
        overlap = lr + rr + 0.04 * w - (rx - lx)
        if overlap > 0:
            lx, rx = max(lr, lx - overlap / 2), min(w - rr, rx + overlap / 2)
        placed = [(lx, ly, lr), (rx, ry, rr)]
    return placed


def _polygon(shape: str, cx: float, cy: float, radius: float, degrees: float) -> list[tuple[float, float]]:
    if shape == "square":
        side = radius * 0.9
        corners = [(-side, -side), (side, -side), (side, side), (-side, side)]
    else:
        corners = [(0.0, -radius), (radius, radius * 0.8), (-radius, radius * 0.8)]
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in corners]


def _draw_objects(
    scene: Scene, look: Look, size: tuple[int, int], scale: float
) -> tuple[Image.Image, Image.Image]:
    """The objects in colour, and their coverage mask, at ``scale`` times the canvas."""
    layer = Image.new("RGB", size, (0, 0, 0))
    mask = Image.new("L", size, 0)
    colour_draw, mask_draw = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for obj, colour, rotation, (cx, cy, radius) in zip(
        scene.objects, look.colours, look.rotations, _geometry(scene, look), strict=True
    ):
        cx, cy, radius = cx * scale, cy * scale, radius * scale
        if obj.shape == "circle":
            box = (cx - radius, cy - radius, cx + radius, cy + radius)
            colour_draw.ellipse(box, fill=colour)
            mask_draw.ellipse(box, fill=255)
        else:
            points = _polygon(obj.shape, cx, cy, radius, rotation)
            colour_draw.polygon(points, fill=colour)
            mask_draw.polygon(points, fill=255)
    return layer, mask


def render_varied(scene: Scene) -> Image.Image:
    """Draws ``scene`` with its look: any size, RGB or RGBA, possibly JPEG-compressed."""
    look = sample_look(scene)
    size = (look.width, look.height)
    canvas = draw_background(look, scene.seed)
    scale = 3 if look.antialias and look.width * look.height <= 256 * 256 else 1
    layer, mask = _draw_objects(scene, look, (look.width * scale, look.height * scale), scale)
    if scale > 1:
        layer = layer.resize(size, Image.Resampling.BOX)
        mask = mask.resize(size, Image.Resampling.BOX)
    coverage = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
    # The layer's colours are premultiplied by coverage after a BOX downscale: divide it back out.
    colours = np.asarray(layer, dtype=np.float32) / np.maximum(coverage, 1e-3)
    pixels = canvas * (1 - coverage) + np.clip(colours, 0, 255) * coverage
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    if look.blur:
        image = image.filter(ImageFilter.GaussianBlur(look.blur * max(size) / 64))
    if look.noise:
        noisy = np.asarray(image, dtype=np.float32)
        noisy += np.random.default_rng(scene.seed + 1).normal(0.0, look.noise, noisy.shape)
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    if look.jpeg_quality is not None:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=look.jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue()))
        image.load()
    if look.alpha == "opaque":
        image = image.convert("RGBA")
    elif look.alpha == "transparent":
        # Transparent around the objects: a served image is composited on white.
        rgba = image.convert("RGBA")
        rgba.putalpha(Image.fromarray((np.clip(coverage[..., 0] * 1.5, 0, 1) * 255).astype(np.uint8), "L"))
        image = rgba
    return image


def render_other(scene: Scene, size_px: int = 96) -> Image.Image:
    """An independent renderer for evaluation: hard-edged numpy rasterisation of pure colours
    at the bins' centres, on a black background (odd seeds) or a white one (even seeds)."""
    background = 0 if scene.seed % 2 else 255
    pixels = np.full((size_px, size_px, 3), background, dtype=np.uint8)
    ys, xs = np.mgrid[0:size_px, 0:size_px].astype(np.float32) + 0.5
    for obj in scene.objects:
        radius = size_px * (0.11 if obj.size == "small" else 0.21)
        cx, cy = size_px * _CENTRE_X[obj.position], size_px * 0.5
        if obj.shape == "circle":
            inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        elif obj.shape == "square":
            inside = (abs(xs - cx) <= radius * 0.85) & (abs(ys - cy) <= radius * 0.85)
        else:  # apex up: below the top vertex, above the base, within the two slanted sides
            top, base = cy - radius, cy + radius * 0.8
            half = (ys - top) / (base - top) * radius
            inside = (ys >= top) & (ys <= base) & (abs(xs - cx) <= half)
        pixels[inside] = COLOURS[obj.colour]
    return Image.fromarray(pixels, "RGB")


def draw(scene: Scene, world: World) -> Image.Image:
    """The image of ``scene`` in ``world`` as a client would send it."""
    if world == "v1":
        return render(scene)
    if world == "other":
        return render_other(scene)
    return render_varied(scene)
