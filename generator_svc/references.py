"""Decoding a call's reference images and mask (on a worker thread: tens of ms
for large files), with the size rules the pipelines would otherwise fail on.

FLUX.1 img2img and inpaint resize the start image and mask to the output size,
so any decodable size works; the mask must match the image it masks. FLUX.2
takes each reference at its own size, and ``Flux2KleinPipeline`` raises on a
side under 64 px or a ratio over 8:1 (``Flux2ImageProcessor.check_image_input``).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from generator_svc.calls import EncodedImage
from generator_svc.options import Family
from generator_svc.validation import SPEC
from serving import errors
from serving.images import ImageLimits, decode_image

FLUX2_MIN_SIDE_PX = 64
FLUX2_MAX_ASPECT_RATIO = 8


@dataclass(frozen=True)
class References:
    """Decoded RGB reference images, the mask as L, and the references' pixel count."""

    images: tuple[Image.Image, ...]
    mask: Image.Image | None
    pixels: int


NO_REFERENCES = References(images=(), mask=None, pixels=0)


def decode(
    images: tuple[EncodedImage, ...], mask: EncodedImage | None, family: Family, limits: ImageLimits
) -> References:
    decoded = []
    for index, image in enumerate(images):
        field = f"{SPEC}.reference_images[{index}]"
        picture = decode_image(image.data, image.media_type, field, limits).image
        if family is Family.FLUX_2:
            _check_flux2_size(picture, f"{field}.data")
        decoded.append(picture)
    mask_image = None
    if mask is not None:
        field = f"{SPEC}.mask"
        mask_image = decode_image(mask.data, mask.media_type, field, limits).image
        first = decoded[0]
        if mask_image.size != first.size:
            raise errors.InvalidArgument.of(
                field,
                f"the mask is {mask_image.width}x{mask_image.height}; it must be the size of "
                f"reference_images[0] ({first.width}x{first.height})",
            )
        mask_image = mask_image.convert("L")
    return References(tuple(decoded), mask_image, sum(image.width * image.height for image in decoded))


def _check_flux2_size(image: Image.Image, field: str) -> None:
    width, height = image.size
    if min(width, height) < FLUX2_MIN_SIDE_PX:
        raise errors.InvalidArgument.of(
            field,
            f"the image is {width}x{height} px; flux.2 reference images need at least "
            f"{FLUX2_MIN_SIDE_PX} px on each side",
        )
    if max(width, height) > FLUX2_MAX_ASPECT_RATIO * min(width, height):
        raise errors.InvalidArgument.of(
            field,
            f"the image is {width}x{height} px; flux.2 reference images may be at most "
            f"{FLUX2_MAX_ASPECT_RATIO} times as long as wide",
        )
