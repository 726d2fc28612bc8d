"""``GATEWAY_ADMIN_TOKEN=... python -m stack.new_key [--name N] [--plan P]``:
creates an API key through the gateway's AdminService and prints its secret
(shown once; the gateway stores only a hash)."""

from __future__ import annotations

import argparse
import os

import grpc

import imaging.errors
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", default="127.0.0.1:50050", help="the gateway")
    parser.add_argument("--name", default="dev", help="the key's display name")
    parser.add_argument("--plan", default="", help="a plan name (default: the gateway's default plan)")
    args = parser.parse_args()
    token = os.environ.get("GATEWAY_ADMIN_TOKEN", "")
    if not token:
        raise SystemExit("set GATEWAY_ADMIN_TOKEN to the gateway's admin token (make run prints it)")
    request = gateway_pb2.CreateApiKeyRequest(display_name=args.name)
    if args.plan:
        request.quota.plan = args.plan
    with grpc.insecure_channel(args.address) as channel:
        try:
            created = gateway_pb2_grpc.AdminServiceStub(channel).CreateApiKey(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
            )
        except grpc.RpcError as exc:
            info = imaging.errors.details(exc)
            raise SystemExit(f"{info.code.name}: {info.message}") from None
    print(f"{created.key.key_id} (plan {created.key.quota.plan}): {created.secret}")


if __name__ == "__main__":
    main()
