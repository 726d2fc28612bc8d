"""``python -m stack.example --key KEY [IMAGE]``: one call of each kind through
the gateway with an API key and the typed client: a caption (of IMAGE, or a
drawn red circle), a generated image written to ``example.png``, and the key's
usage this month."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from imaging.client import DEFAULT_ADDRESS, Client, ImagingError


def _red_circle() -> Image.Image:
    image = Image.new("RGB", (64, 64), (200, 200, 200))
    ImageDraw.Draw(image).ellipse((8, 20, 32, 44), fill=(220, 30, 30))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", required=True, help="API key (img_...)")
    parser.add_argument("--address", default=DEFAULT_ADDRESS, help="the gateway")
    parser.add_argument("image", nargs="?", type=Path, help="an image to caption")
    args = parser.parse_args()
    with Client(args.address, api_key=args.key, timeout_s=60) as client:
        try:
            caption = client.captioner.caption(args.image or _red_circle())
            print(f"caption: {caption.text}")
            generation = client.generator.generate("a big red circle on the left", variant="flux.1-schnell")
            image = generation.images[0]
            image.save("example.png")
            print(f"generated example.png (seed {image.seed}, {image.cost})")
            usage = client.usage.get()
            left = "unlimited" if usage.remaining_images is None else usage.remaining_images
            print(f"this month: {usage.usage.image_count} images billed, {left} left")
        except ImagingError as error:
            raise SystemExit(str(error)) from None


if __name__ == "__main__":
    main()
