"""``python -m stack.example --key KEY [IMAGE]``: one call of each kind through
the gateway with an API key: a caption (of IMAGE, or a drawn red circle), a
generated image written to ``example.png``, and the key's usage this month."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import grpc
from PIL import Image, ImageDraw

import imaging.errors
from imaging.captioner.v1 import captioner_pb2, captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from imaging.generator.v1 import generator_pb2, generator_pb2_grpc


def _red_circle() -> bytes:
    image = Image.new("RGB", (64, 64), (200, 200, 200))
    ImageDraw.Draw(image).ellipse((8, 20, 32, 44), fill=(220, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", required=True, help="API key (img_...)")
    parser.add_argument("--address", default="127.0.0.1:50050", help="the gateway")
    parser.add_argument("image", nargs="?", type=Path, help="an image to caption")
    args = parser.parse_args()
    metadata = (("authorization", f"Bearer {args.key}"),)
    data = args.image.read_bytes() if args.image else _red_circle()
    with grpc.insecure_channel(args.address) as channel:
        try:
            caption = captioner_pb2_grpc.CaptionerServiceStub(channel).Caption(
                captioner_pb2.CaptionRequest(images=[common_pb2.Image(data=data)]),
                metadata=metadata,
                timeout=30,
            )
            print(f"caption: {caption.captions[0].text}")
            spec = generator_pb2.GenerationSpec(
                prompt="a big red circle on the left", variant="flux.1-schnell"
            )
            generated = generator_pb2_grpc.GeneratorServiceStub(channel).Generate(
                generator_pb2.GenerateRequest(spec=spec), metadata=metadata, timeout=60
            )
            Path("example.png").write_bytes(generated.images[0].image.data)
            cost, seed = generated.images[0].cost, generated.seed
            print(f"generated example.png (seed {seed}, {cost.amount_micros} micros {cost.currency_code})")
            usage = gateway_pb2_grpc.UsageServiceStub(channel).GetUsage(
                gateway_pb2.GetUsageRequest(), metadata=metadata, timeout=10
            )
            print(
                f"this month: {usage.period_usage.image_count} images billed, {usage.remaining_images} left"
            )
        except grpc.RpcError as exc:
            info = imaging.errors.details(exc)
            raise SystemExit(f"{info.code.name}: {info.message}") from None


if __name__ == "__main__":
    main()
