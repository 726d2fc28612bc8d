"""The Node.js client (clients/node) as a Node.js developer runs it: its
examples through a real gateway to the real shipped model servers, its
committed TypeScript types against the protos, and the examples against those
types. Node and the package's npm dependencies are part of the set-up (`make
setup` runs `npm ci` there), so their absence fails these tests."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from PIL import Image

from imaging.gateway.v1 import gateway_pb2
from tests.gateway_support import REPO, Process, create_key, gateway_env, scene_png, spawn, wait_serving

NODE_PACKAGE = REPO / "clients" / "node"
# 2^53 + 1: the first integer a JavaScript Number cannot hold.
BIG_SEED = "9007199254740993"
STEPS = 3


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not on PATH: the Node.js client's tests need Node.js 18 or newer")
    if not (NODE_PACKAGE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("clients/node has no node_modules: run `make setup` (npm ci in clients/node)")
    return path


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 180) -> str:
    """Runs ``command`` in the package; returns its stdout, failing with both streams."""
    result = subprocess.run(
        command,
        cwd=NODE_PACKAGE,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    failure = f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, failure
    return result.stdout


@pytest.fixture(scope="module")
def gateway(backends: tuple[Process, Process], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    captioner, generator = backends
    data = tmp_path_factory.mktemp("node-gateway-data")
    process = spawn("gateway", "GATEWAY", data, gateway_env(captioner.address, generator.address, data))
    wait_serving(process, "imaging.generator.v1.GeneratorService")
    yield process
    process.stop()
    assert '"level": "ERROR"' not in process.log_text()


@pytest.fixture(scope="module")
def channel(gateway: Process) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.address) as channel:
        yield channel


def test_example_streams_caption_tokens_and_generation_steps_through_the_gateway(
    node: str, gateway: Process, channel: grpc.Channel, tmp_path: Path
) -> None:
    _, secret = create_key(channel)  # the free plan: flux.1-schnell is allowed
    image = tmp_path / "scene.png"
    image.write_bytes(scene_png("red", left=True))
    out = tmp_path / "out.png"
    stdout = run(
        [
            node,
            "examples/caption_and_generate.js",
            str(image),
            "--prompt",
            "a big red circle on the left",
            "--steps",
            str(STEPS),
            "--seed",
            BIG_SEED,
            "--out",
            str(out),
        ],
        env={"IMAGING_ADDRESS": gateway.address, "IMAGING_API_KEY": secret},
    )
    lines = stdout.splitlines()
    assert lines[0] == "health: SERVING", stdout

    # The tokens, written as they arrived, add up to the final caption.
    streamed = next(line for line in lines if line.startswith("caption> ")).removeprefix("caption> ")
    final = next(line for line in lines if line.startswith("final caption: ")).removeprefix("final caption: ")
    assert streamed == final == "a big red circle on the left"
    counted = re.search(
        r"^tokens streamed: (\d+) \(FINISH_REASON_END_OF_SEQUENCE\), request id \w+$", stdout, re.M
    )
    assert counted is not None, stdout
    assert int(counted.group(1)) > 1

    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split(":")[0] for line in steps] == [f"step {i}/{STEPS}" for i in range(1, STEPS + 1)]

    with Image.open(io.BytesIO(out.read_bytes())) as png:
        png.load()
        assert png.format == "PNG"
        assert f"wrote {out}: {png.width}x{png.height} px, {STEPS} steps of flux.1-schnell" in lines
        assert png.info["seed"] == BIG_SEED  # the seed the generator used, from its PNG text chunk
    assert f"seed: {BIG_SEED}" in lines  # not 9007199254740992, as a Number would have it
    cost = next(line for line in lines if line.startswith("cost: "))
    assert re.fullmatch(r"cost: \d+\.\d{6} USD", cost) and cost != "cost: 0.000000 USD", cost
    assert re.search(r"^request id: \w+$", stdout, re.M), stdout


def test_errors_decode_to_code_reason_field_violations_retry_delay_quota_and_request_id(
    node: str, gateway: Process, channel: grpc.Channel
) -> None:
    _, secret = create_key(channel)
    # One call a minute and one image a month: a two-image call meets the quota, the next the rate limit.
    _, limited = create_key(
        channel, gateway_pb2.Quota(plan="tiny", requests_per_minute=1, images_per_month=1)
    )
    env = {"IMAGING_ADDRESS": gateway.address, "IMAGING_API_KEY": secret, "IMAGING_LIMITED_API_KEY": limited}
    stdout = run([node, "examples/errors.js"], env=env)
    cases = {case["case"]: case for case in map(json.loads, stdout.splitlines())}
    assert all(case["failed"] for case in cases.values()), stdout

    # Refused by the client before sending: each names its field; no server saw it.
    for name, field in [
        ("enum_typo", "decoding.strategy"),
        ("camel_case_field", "decoding.maxNewTokens"),
        ("seed_as_number", "spec.seed"),
    ]:
        case = cases[name]
        assert case["codeName"] == "INVALID_ARGUMENT" and case["domain"] == "imaging.client", case
        assert case["requestId"] == "", case
        assert [v["field"] for v in case["fieldViolations"]] == [field], case
    assert "DECODING_STRATEGY_BEAM_SEARCH" in cases["enum_typo"]["fieldViolations"][0]["description"]
    assert '"max_new_tokens"' in cases["camel_case_field"]["fieldViolations"][0]["description"]

    # Refused by the servers (unary and streaming), with the field and the request id.
    for name, field in [("bad_image", "images[0].data"), ("bad_size", "spec.width_px")]:
        case = cases[name]
        assert (case["code"], case["codeName"]) == (3, "INVALID_ARGUMENT"), case
        assert case["domain"] == "imaging.serving", case
        assert [v["field"] for v in case["fieldViolations"]] == [field], case
        assert re.fullmatch(r"\w{8,}", case["requestId"]), case

    wrong_key = cases["wrong_key"]
    assert (wrong_key["codeName"], wrong_key["reason"]) == ("UNAUTHENTICATED", "API_KEY_UNKNOWN"), wrong_key
    assert wrong_key["requestId"], wrong_key

    quota = cases["quota_exceeded"]
    assert (quota["codeName"], quota["reason"]) == ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), quota
    assert quota["retryDelayMs"] is None, quota  # no retry helps before the month ends
    assert [v["subject"].startswith("api_key:") for v in quota["quotaViolations"]] == [True], quota
    rate = cases["rate_limited"]
    assert (rate["codeName"], rate["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMITED"), rate
    assert 0 < rate["retryDelayMs"] <= 60_000 and rate["quotaViolations"] == [], rate


def test_committed_types_match_the_protos_and_the_examples_type_check(node: str) -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm is not on PATH"
    assert "up to date" in run([npm, "--silent", "run", "gen:check"])
    run([npm, "--silent", "run", "typecheck"])
