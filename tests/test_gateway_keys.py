"""Key lifecycle through AdminService as an operator uses it: rotation with a
grace period, limits changed live, paging, the audit log, the anonymous tier
and the ``migrate`` command."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2

from imaging.captioner.v1 import captioner_pb2 as cap
from imaging.captioner.v1 import captioner_pb2_grpc
from imaging.common.v1 import common_pb2
from imaging.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tests.gateway_support import (
    ADMIN,
    REPO,
    Process,
    bearer,
    create_key,
    error_of,
    gateway_env,
    scene_png,
    spawn,
)

IMAGE = common_pb2.Image(data=scene_png(), media_type="image/png")


@pytest.fixture
def gateway(backends: tuple[Process, Process], tmp_path: Path) -> Iterator[Process]:
    captioner, generator = backends
    env = gateway_env(captioner.address, generator.address, tmp_path, GATEWAY_ANONYMOUS_PLAN="free")
    process = spawn("gateway", "GATEWAY", tmp_path, env)
    yield process
    process.stop()


def reason_of(call: Callable[[], object]) -> str:
    return error_of(call).reason


def test_rotation_keeps_the_old_secret_for_its_grace_period_only(gateway: Process) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        admin = gateway_pb2_grpc.AdminServiceStub(channel)
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        key_id, old = create_key(channel)
        rotated = admin.RotateApiKey(
            gateway_pb2.RotateApiKeyRequest(
                key_id=key_id, grace_period=duration_pb2.Duration(nanos=600_000_000)
            ),
            metadata=ADMIN,
        )
        new = rotated.secret
        assert new != old and rotated.key.key_id == key_id and rotated.key.secret_prefix == new[:10]
        assert rotated.HasField("old_secret_expire_time")
        for secret in (old, new):
            stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(secret), timeout=5)
        time.sleep(0.7)
        assert reason_of(lambda: stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(old))) == (
            "API_KEY_UNKNOWN"
        )
        stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(new), timeout=5)
        # Without a grace period the old secret stops at once.
        newest = admin.RotateApiKey(gateway_pb2.RotateApiKeyRequest(key_id=key_id), metadata=ADMIN).secret
        assert reason_of(lambda: stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(new))) == (
            "API_KEY_UNKNOWN"
        )
        stub.GetModelInfo(cap.GetModelInfoRequest(), metadata=bearer(newest), timeout=5)


def test_set_quota_applies_to_the_next_call_and_usage_tells_what_is_left(gateway: Process) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        admin = gateway_pb2_grpc.AdminServiceStub(channel)
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        usage = gateway_pb2_grpc.UsageServiceStub(channel)
        key_id, secret = create_key(channel, gateway_pb2.Quota(plan="trial", images_per_month=1))
        stub.Caption(cap.CaptionRequest(images=[IMAGE]), metadata=bearer(secret), timeout=30)
        assert reason_of(
            lambda: stub.Caption(cap.CaptionRequest(images=[IMAGE]), metadata=bearer(secret))
        ) == ("QUOTA_EXCEEDED")
        admin.SetQuota(
            gateway_pb2.SetQuotaRequest(
                key_id=key_id, quota=gateway_pb2.Quota(plan="pro", images_per_month=3)
            ),
            metadata=ADMIN,
        )
        stub.Caption(cap.CaptionRequest(images=[IMAGE, IMAGE]), metadata=bearer(secret), timeout=30)
        reply = usage.GetUsage(gateway_pb2.GetUsageRequest(), metadata=bearer(secret))
        assert (reply.key.quota.plan, reply.period_usage.image_count, reply.remaining_images) == ("pro", 3, 0)
        assert not reply.HasField("remaining_spend")  # no spend limit on this plan


def test_listing_pages_and_the_audit_log_names_the_admin_without_key_material(gateway: Process) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        admin = gateway_pb2_grpc.AdminServiceStub(channel)
        created = [create_key(channel) for _ in range(5)]
        admin.RevokeApiKey(gateway_pb2.RevokeApiKeyRequest(key_id=created[0][0]), metadata=ADMIN)
        seen: list[str] = []
        token = ""
        while True:
            page = admin.ListApiKeys(
                gateway_pb2.ListApiKeysRequest(page_size=2, page_token=token), metadata=ADMIN
            )
            seen += [k.key_id for k in page.keys]
            token = page.next_page_token
            if not token:
                break
        assert seen == [key_id for key_id, _ in reversed(created[1:])]  # newest first, revoked hidden
        everything = admin.ListApiKeys(gateway_pb2.ListApiKeysRequest(show_revoked=True), metadata=ADMIN)
        states = {k.key_id: k.state for k in everything.keys}
        assert states[created[0][0]] == gateway_pb2.API_KEY_STATE_REVOKED

        identity = (*ADMIN, ("x-admin-identity", "alice"))
        admin.SetQuota(
            gateway_pb2.SetQuotaRequest(key_id=created[1][0], quota=gateway_pb2.Quota(plan="unlimited")),
            metadata=identity,
        )
        events = admin.ListAuditEvents(
            gateway_pb2.ListAuditEventsRequest(page_size=100), metadata=ADMIN
        ).events
        assert [e.action for e in events[:2]] == ["set_quota", "revoke"]
        assert events[0].actor == "admin/alice@127.0.0.1" and events[0].details["plan"] == "unlimited"
        assert sum(e.action == "create" for e in events) == 5
        text = str(events)
        for _, secret in created:
            assert secret not in text and secret[:10] not in text


def test_anonymous_tier_is_metered_per_client_address(gateway: Process) -> None:
    with grpc.insecure_channel(gateway.address) as channel:
        stub = captioner_pb2_grpc.CaptionerServiceStub(channel)
        reply = stub.Caption(cap.CaptionRequest(images=[IMAGE]), timeout=30)
        assert reply.captions[0].text
        usage = gateway_pb2_grpc.UsageServiceStub(channel).GetUsage(gateway_pb2.GetUsageRequest())
        assert usage.key.key_id == "anon:127.0.0.1"
        assert (usage.key.quota.plan, usage.period_usage.image_count) == ("free", 1)
        assert usage.remaining_images == usage.key.quota.images_per_month - 1


def test_migrate_command_brings_an_empty_database_up_to_date(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "migrate", "--data-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "store schema up to date" in done.stdout
    assert (tmp_path / "gateway.db").exists()
