"""Decoding untrusted images and fitting them to a model's input."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from serving import errors
from serving.images import ImageLimits, ResizeMode, decode_image, encode_image, fit_square

LIMITS = ImageLimits(max_bytes=1_000_000, max_pixels=1_000_000)


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("GIF", "image/gif"),
    ],
)
def test_accepted_formats_decode_to_rgb(fmt: str, media_type: str) -> None:
    data = encoded(Image.new("RGB", (40, 30), (250, 10, 10)), fmt)
    decoded = decode_image(data, "", "images[0]", LIMITS)
    assert decoded.media_type == media_type
    assert decoded.image.mode == "RGB" and decoded.image.size == (40, 30)
    red, green, blue = decoded.image.getpixel((20, 15))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encoded(image, "JPEG", exif=exif.tobytes())
    assert decode_image(data, "image/jpeg", "images[0]", LIMITS).image.size == (20, 40)


def test_transparency_is_composited_on_white() -> None:
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    decoded = decode_image(encoded(image, "PNG"), "image/png", "images[0]", LIMITS)
    assert decoded.image.getpixel((5, 5)) == (255, 255, 255)


def test_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    red, _, blue = decode_image(buffer.getvalue(), "", "image", LIMITS).image.getpixel((4, 4))  # type: ignore[misc]
    assert red > 200 and blue < 50


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        (b"", "images[2].data", "empty"),
        (b"GIF89a" + b"\x00" * 20, "images[2].data", "image"),
        (b"hello, not an image", "images[2].data", "not a decodable image"),
        (encoded(Image.new("RGB", (8, 8)), "TIFF"), "images[2].data", "unsupported image format TIFF"),
        (b"x" * 1_000_001, "images[2].data", "limit is 1000000 bytes"),
    ],
)
def test_bad_bytes_name_the_field(data: bytes, field: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        decode_image(data, "", "images[2]", LIMITS)
    assert [v.field for v in caught.value.violations] == [field]
    assert fragment in caught.value.violations[0].description


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 2000x2000 of one colour compresses to a few KB but would be 4 MP.
    bomb = encoded(Image.new("RGB", (2000, 2000)), "PNG")
    assert len(bomb) < 100_000
    with pytest.raises(errors.InvalidArgument, match="2000 x 2000 pixels; the limit is 1000000 pixels"):
        decode_image(bomb, "", "images[0]", LIMITS)


def test_stated_media_type_must_match_the_bytes() -> None:
    data = encoded(Image.new("RGB", (8, 8)), "PNG")
    assert decode_image(data, "image/PNG", "image", LIMITS).media_type == "image/png"
    with pytest.raises(errors.InvalidArgument) as caught:
        decode_image(data, "image/webp", "image", LIMITS)
    assert caught.value.violations[0].field == "image.media_type"


def test_resize_modes() -> None:
    wide = Image.new("RGB", (200, 100), (0, 0, 0))
    wide.paste((255, 0, 0), (0, 0, 50, 100))  # red band on the left quarter
    stretched = fit_square(wide, 64, ResizeMode.STRETCH)
    cropped = fit_square(wide, 64, ResizeMode.CENTER_CROP)
    boxed = fit_square(wide, 64, ResizeMode.LETTERBOX)
    assert stretched.size == cropped.size == boxed.size == (64, 64)
    assert stretched.getpixel((2, 32))[0] > 200  # type: ignore[index]
    assert cropped.getpixel((2, 32))[0] < 50  # type: ignore[index]  # the red band was cropped away
    assert boxed.getpixel((32, 2)) == (255, 255, 255)  # padding rows are white
    assert boxed.getpixel((2, 32))[0] > 200  # type: ignore[index]


def test_png_output_carries_text_metadata() -> None:
    data = encode_image(Image.new("RGB", (8, 8)), "image/png", text={"prompt": "a red circle", "seed": "7"})
    assert Image.open(io.BytesIO(data)).text == {"prompt": "a red circle", "seed": "7"}  # type: ignore[attr-defined]
    jpeg = encode_image(Image.new("RGB", (8, 8)), "image/jpeg", quality=30)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
