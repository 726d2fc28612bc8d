"""``python -m stack.smoke``: checks a running stack end to end, as
scripts/container_smoke.sh does for the three containers (it works on
``make run`` too).

Each server says SERVING on ``grpc.health.v1`` (overall and ``liveness``), the
gateway says SERVING for the forwarded services, and through the gateway with
a fresh API key (made with ``GATEWAY_ADMIN_TOKEN``): a caption, a generation,
and the key's usage, which must show both as billed, as must the gateway's
``/metrics``. Exits 1 naming the first check that failed.
"""

from __future__ import annotations

import argparse
import os
import time
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image, ImageDraw

from imaging.client import Client, ImagingError

_FORWARDED = ("imaging.captioner.v1.CaptionerService", "imaging.generator.v1.GeneratorService")


def wait_serving(address: str, service: str, timeout_s: float) -> None:
    """Polls ``grpc.health.v1`` Check until ``service`` is SERVING."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            except grpc.RpcError as exc:
                last = exc.code().name
            else:
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            time.sleep(0.5)
    raise SystemExit(f"{address} {service or '(server)'}: not SERVING after {timeout_s:.0f} s ({last})")


def _red_circle() -> Image.Image:
    image = Image.new("RGB", (64, 64), (200, 200, 200))
    ImageDraw.Draw(image).ellipse((8, 20, 32, 44), fill=(220, 30, 30))
    return image


def _billed_images(metrics_url: str) -> float:
    body = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("imaging_gateway_billed_images_total{")
    )


def check(
    gateway: str, captioner: str, generator: str, metrics_url: str, admin_token: str, timeout_s: float
) -> None:
    for address in (captioner, generator, gateway):
        wait_serving(address, "", timeout_s)
        wait_serving(address, "liveness", timeout_s)
    for service in _FORWARDED:
        wait_serving(gateway, service, timeout_s)
    print("health: the three servers and the forwarded services are SERVING")
    with Client(gateway, admin_token=admin_token, timeout_s=120) as admin:
        secret = admin.admin.create_key("container-smoke").secret
    before = _billed_images(metrics_url)
    with Client(gateway, api_key=secret, timeout_s=120) as client:
        try:
            caption = client.captioner.caption(_red_circle())
            generation = client.generator.generate("a big red circle on the left", variant="flux.1-schnell")
            usage = client.usage.get()
        except ImagingError as error:
            raise SystemExit(f"call through the gateway failed: {error}") from None
    if not caption.text.strip():
        raise SystemExit("the caption is empty")
    print(f"caption through the gateway: {caption.text!r}")
    image = generation.images[0]
    if image.image.size != (image.width_px, image.height_px):
        raise SystemExit(f"generated image is {image.image.size}, not {image.width_px}x{image.height_px}")
    size = f"{image.width_px}x{image.height_px}"
    print(f"generation through the gateway: {size}, seed {image.seed}, {image.cost}")
    # One captioned input image and one generated image, on this new key.
    if usage.usage.image_count != 2:
        raise SystemExit(f"the ledger billed {usage.usage.image_count} images for the key, not 2")
    billed = _billed_images(metrics_url) - before
    if billed != 2:
        raise SystemExit(f"the gateway's /metrics counted {billed:g} billed images, not 2")
    print(f"metering: 2 images billed to the key ({usage.usage.cost}), and counted on /metrics")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--gateway", default="127.0.0.1:50050")
    parser.add_argument("--captioner", default="127.0.0.1:50051")
    parser.add_argument("--generator", default="127.0.0.1:50052")
    parser.add_argument("--gateway-metrics", default="http://127.0.0.1:9100/metrics")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for SERVING")
    args = parser.parse_args()
    token = os.environ.get("GATEWAY_ADMIN_TOKEN", "")
    if not token:
        raise SystemExit("set GATEWAY_ADMIN_TOKEN to the gateway's admin token")
    check(args.gateway, args.captioner, args.generator, args.gateway_metrics, token, args.timeout)
    print("smoke: OK")


if __name__ == "__main__":
    main()
