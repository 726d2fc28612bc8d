"""Image I/O shared by the servers: safe decoding of untrusted bytes, fitting
to a model's square input, and encoding of output images.

Decoding applies EXIF orientation, takes the first frame of animations and
composites transparency on white; limits on bytes and pixels stop
decompression bombs before the pixels are allocated. Every failure is an
``InvalidArgument`` naming the field (``images[2].data``) and the limit, in
the service's own words.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from enum import Enum

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from serving import errors

# PIL format name -> IANA media type, for the formats we accept.
ACCEPTED_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
}
_ACCEPTED_NAMES = "PNG, JPEG, WebP, BMP or GIF"
_MEDIA_ALIASES = {"image/jpg": "image/jpeg", "image/x-ms-bmp": "image/bmp"}


class ResizeMode(Enum):
    """How an image is fitted to a square model input."""

    STRETCH = "stretch"
    CENTER_CROP = "center_crop"
    LETTERBOX = "letterbox"


@dataclass(frozen=True)
class ImageLimits:
    """Per-image limits; ``max_pixels`` is width x height after decoding."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image, what it was sent as, and its size as sent (width, height)
    (larger than ``image`` when a JPEG was decoded at a reduced scale)."""

    image: Image.Image
    media_type: str
    sent_size: tuple[int, int] = (0, 0)

    @property
    def megapixels(self) -> float:
        width, height = self.sent_size if self.sent_size != (0, 0) else self.image.size
        return width * height / 1_000_000


def decode_image(
    data: bytes, media_type: str, field: str, limits: ImageLimits, draft_px: int = 0
) -> DecodedImage:
    """Decodes untrusted ``data`` into RGB; ``field`` is the request path used in errors
    (``images[0]``: violations name ``images[0].data`` or ``images[0].media_type``).

    ``draft_px``: the image only needs to be at least this many pixels a side,
    so a JPEG is decoded at the smallest of its 1/2, 1/4 or 1/8 scales that
    keeps both sides at least that large (``Image.draft``): fewer pixels
    decoded, and fewer to resize.

    Error descriptions are the service's own words: never Pillow's (which name its
    own limits) nor Python reprs of the buffer."""
    data_field = f"{field}.data"
    if not data:
        raise errors.InvalidArgument.of(data_field, "the image is empty; send the encoded file bytes")
    if len(data) > limits.max_bytes:
        raise errors.InvalidArgument.of(
            data_field, f"the image is {len(data)} bytes; the limit is {limits.max_bytes} bytes"
        )
    max_pixels = pixel_limit(limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            detected = _accepted_format(opened, data_field)
            _check_size(opened, data_field, max_pixels)
            sent_size = opened.size
            opened.seek(0)  # the first frame of an animation
            if draft_px and detected == "image/jpeg":
                opened.draft(None, (draft_px, draft_px))
            opened.load()
            rgb = to_rgb(ImageOps.exif_transpose(opened))
    except errors.InvalidArgument:
        raise
    except UnidentifiedImageError:
        raise errors.InvalidArgument.of(
            data_field, f"not a decodable image; send {_ACCEPTED_NAMES}"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refused the size its header claims before we could read it.
        raise errors.InvalidArgument.of(
            data_field, f"the image is over the limit of {max_pixels} pixels (width x height)"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error):
        raise errors.InvalidArgument.of(
            data_field, "the image data is corrupt or truncated; send the complete file"
        ) from None
    stated = _MEDIA_ALIASES.get(media_type.lower(), media_type.lower()) if media_type else ""
    if stated and stated != detected:
        raise errors.InvalidArgument.of(
            f"{field}.media_type", f"says {media_type} but the bytes are {detected}; fix it or leave it empty"
        )
    return DecodedImage(image=rgb, media_type=detected, sent_size=sent_size)


def pixel_limit(limits: ImageLimits) -> int:
    """The most pixels an image may have: ``limits.max_pixels``, capped by the size
    above which Pillow refuses a header before its size can be checked here."""
    pillow_limit = Image.MAX_IMAGE_PIXELS  # None when an application turned Pillow's check off
    return min(limits.max_pixels, pillow_limit) if pillow_limit else limits.max_pixels


def _accepted_format(opened: Image.Image, data_field: str) -> str:
    """The media type of an opened image in an accepted format."""
    detected = ACCEPTED_FORMATS.get(opened.format or "")
    if detected is None:
        raise errors.InvalidArgument.of(
            data_field, f"unsupported image format {opened.format}; send {_ACCEPTED_NAMES}"
        )
    return detected


def _check_size(opened: Image.Image, data_field: str, max_pixels: int) -> None:
    """Refuses a size before its pixels are decoded (decompression bombs are small files)."""
    width, height = opened.size
    if width <= 0 or height <= 0:
        raise errors.InvalidArgument.of(data_field, "the image has zero width or height")
    if width * height > max_pixels:
        raise errors.InvalidArgument.of(
            data_field, f"the image is {width} x {height} pixels; the limit is {max_pixels} pixels"
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Composites any transparency on white, so transparent pixels do not turn black."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def fit_square(image: Image.Image, size_px: int, mode: ResizeMode) -> Image.Image:
    """Returns ``image`` as ``size_px`` x ``size_px`` RGB by ``mode``."""
    if mode is ResizeMode.STRETCH:
        return image.resize((size_px, size_px), Image.Resampling.BICUBIC)
    if mode is ResizeMode.CENTER_CROP:
        return ImageOps.fit(image, (size_px, size_px), Image.Resampling.BICUBIC)
    return ImageOps.pad(image, (size_px, size_px), Image.Resampling.BICUBIC, color=(255, 255, 255))


def encode_image(
    image: Image.Image, media_type: str, quality: int = 90, text: dict[str, str] | None = None
) -> bytes:
    """Encodes ``image`` as PNG (with ``text`` chunks), JPEG or WebP at ``quality`` (1-100)."""
    buffer = io.BytesIO()
    if media_type == "image/png":
        info = PngImagePlugin.PngInfo()
        for key, value in (text or {}).items():
            info.add_itxt(key, value)
        image.save(buffer, format="PNG", pnginfo=info)
    elif media_type == "image/jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    elif media_type == "image/webp":
        image.save(buffer, format="WEBP", quality=quality)
    else:
        raise ValueError(f"cannot encode {media_type}")
    return buffer.getvalue()
