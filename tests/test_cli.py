"""The ``imaging`` command line against a real gateway and the shipped model
servers: every command through typer's runner, and its failures as one-line
messages with a non-zero exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from imaging.cli import app
from imaging.client import AdminClient, Quota
from tests.gateway_support import ADMIN_TOKEN, REPO, Process, free_port, gateway_env, scene_png, spawn

RED = "a big red circle on the left"
BLUE = "a big blue circle on the right"


@pytest.fixture(scope="module")
def gateway(backends: tuple[Process, Process], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    captioner, generator = backends
    data = tmp_path_factory.mktemp("cli-gateway")
    process = spawn("gateway", "GATEWAY", data, gateway_env(captioner.address, generator.address, data))
    yield process
    process.stop()


def new_key(gateway: Process, quota: Quota | None = None) -> tuple[str, str]:
    with AdminClient(gateway.address, admin_token=ADMIN_TOKEN) as admin:
        created = admin.create_key("cli test", quota=quota or Quota(plan="unlimited"))
    return created.key.key_id, created.secret


@pytest.fixture(scope="module")
def secret(gateway: Process) -> str:
    return new_key(gateway)[1]


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    red.write_bytes(scene_png("red"))
    blue.write_bytes(scene_png("blue", left=False))
    return red, blue


def imaging(
    gateway: Process, *args: str | Path, key: str | None = None, admin: bool = False, cwd: Path | None = None
) -> Result:
    """Runs ``imaging ARGS`` with the address (and key) from the environment."""
    env = {
        "IMAGING_ADDRESS": gateway.address,
        "IMAGING_API_KEY": key,
        "IMAGING_ADMIN_TOKEN": ADMIN_TOKEN if admin else None,
        "GATEWAY_ADMIN_TOKEN": None,
        "COLUMNS": "200",
    }
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    finally:
        os.chdir(previous)
    # An expected failure is an exit code, never an exception with a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_caption_plain_batched_and_with_options(
    gateway: Process, secret: str, images: tuple[Path, Path]
) -> None:
    red, blue = images
    single = imaging(gateway, "caption", red, key=secret)
    assert single.exit_code == 0, single.output
    assert single.stdout.strip() == RED
    batch = imaging(gateway, "caption", red, blue, "--beams", "3", key=secret)
    assert batch.exit_code == 0, batch.output
    assert RED in batch.stdout and BLUE in batch.stdout and "red.png" in batch.stdout
    sampled = imaging(gateway, "caption", red, "--sample", "--top-p", "0.9", "--seed", "4", key=secret)
    assert sampled.exit_code == 0 and sampled.stdout.strip()
    again = imaging(gateway, "caption", red, "--sample", "--top-p", "0.9", "--seed", "4", key=secret)
    assert again.stdout == sampled.stdout  # a seed makes sampling reproducible
    french = imaging(gateway, "caption", red, "--adapter", "fr", key=secret)
    assert french.exit_code == 0 and french.stdout.strip() and french.stdout.strip() != RED


def test_caption_streams_tokens_and_draws_the_attention_map(
    gateway: Process, secret: str, images: tuple[Path, Path], tmp_path: Path
) -> None:
    red, blue = images
    streamed = imaging(gateway, "caption", "--stream", red, blue, key=secret)
    assert streamed.exit_code == 0, streamed.output
    assert f"{red}: {RED}" in streamed.stdout and f"{blue}: {BLUE}" in streamed.stdout

    target = tmp_path / "attention.png"
    drawn = imaging(gateway, "caption", red, "--attention-map", target, key=secret)
    assert drawn.exit_code == 0, drawn.output
    assert str(target) in drawn.stdout
    grid = Image.open(target)
    # The image and one tile per word of "a big red circle on the left": 8 tiles, 4 a row.
    tile = 192
    assert grid.width > 4 * tile and 2 * tile < grid.height < 3 * tile
    pixels = np.asarray(grid.convert("RGB"), dtype=np.int16)
    # A tile that is not the plain image: viridis paints what the word looked at.
    first_tile, red_tile = (
        pixels[30 : 30 + tile // 2, 10 : 10 + tile],
        pixels[30 : 30 + tile // 2, -tile - 10 : -10],
    )
    assert np.abs(first_tile - red_tile).mean() > 1

    several = tmp_path / "maps.png"
    both = imaging(gateway, "caption", red, blue, "--attention-map", several, key=secret)
    assert both.exit_code == 0, both.output
    assert (tmp_path / "maps-1.png").exists() and (tmp_path / "maps-2.png").exists()


def test_embed_and_match(gateway: Process, secret: str, images: tuple[Path, Path], tmp_path: Path) -> None:
    red, blue = images
    vectors = tmp_path / "vectors.npy"
    embedded = imaging(
        gateway,
        "embed",
        red,
        blue,
        "--text",
        "a red circle",
        "--text",
        "a blue circle",
        "-o",
        vectors,
        key=secret,
    )
    assert embedded.exit_code == 0, embedded.output
    assert "cosine similarity" in embedded.stdout and "a blue circle" in embedded.stdout
    saved = np.load(vectors)
    assert saved.shape[0] == 4
    assert saved[0] @ saved[2] > saved[0] @ saved[3]  # the red image is nearer "a red circle"
    texts_only = imaging(gateway, "embed", "-t", "a green triangle", key=secret)
    assert texts_only.exit_code == 0 and "a green triangle" in texts_only.stdout

    matched = imaging(
        gateway, "match", red, "a small blue square on the right", RED, "a green triangle", key=secret
    )
    assert matched.exit_code == 0, matched.output
    rows = [line for line in matched.stdout.splitlines() if line.strip().startswith(("│ 1", "│ 2", "│ 3"))]
    assert RED in rows[0] and len(rows) == 3


def test_generate_shows_progress_and_writes_files_with_seed_and_cost(
    gateway: Process, secret: str, images: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "circle.png"
    generated = imaging(
        gateway,
        "generate",
        RED,
        "--seed",
        "3",
        "--steps",
        "4",
        "-n",
        "2",
        "-o",
        out,
        "--preview-every",
        "2",
        key=secret,
    )
    assert generated.exit_code == 0, generated.output
    assert "4/4" in generated.stderr  # the progress bar, at its end
    first, second = tmp_path / "circle-1.png", tmp_path / "circle-2.png"
    assert Image.open(first).size == (64, 64) and second.exists()
    lines = {line.split("│")[1].strip(): line for line in generated.stdout.splitlines() if "circle-" in line}
    assert " 3 " in lines[str(first)] and " 4 " in lines[str(second)]  # seeds
    assert "0.003 USD" in lines[str(first)]  # the shipped price of a schnell image
    assert "total 0.006 USD" in generated.stdout
    assert (tmp_path / "circle.step-2.png").exists()

    quoted = imaging(
        gateway, "generate", RED, "-n", "2", "--size", "128x64", "--quote", key=secret, cwd=tmp_path
    )
    assert quoted.exit_code == 0, quoted.output
    assert "2 image(s) of 128x64" in quoted.stdout and "total 0.006 USD" in quoted.stdout
    assert not list(tmp_path.glob("image-*"))  # nothing generated

    wide = imaging(
        gateway,
        "generate",
        "a small blue square",
        "--aspect",
        "16:9",
        "--megapixels",
        "0.05",
        "--format",
        "jpeg",
        key=secret,
        cwd=tmp_path,
    )
    assert wide.exit_code == 0, wide.output
    written = [p for p in tmp_path.glob("image-*.jpg")]
    assert len(written) == 1
    width, height = Image.open(written[0]).size
    assert width > height

    red, _ = images
    edited = imaging(
        gateway, "generate", RED, "--variant", "flux.2-klein-4b", "--size", "64x64", "--ref", red,
        "-o", tmp_path / "edit.webp", key=secret,
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    assert Image.open(tmp_path / "edit.webp").format == "WEBP"


def test_variants_and_usage(gateway: Process, images: tuple[Path, Path]) -> None:
    _, secret = new_key(gateway, Quota(plan="trial", images_per_month=10))
    listed = imaging(gateway, "variants", key=secret)
    assert listed.exit_code == 0, listed.output
    assert "flux.1-schnell" in listed.stdout and "0.003 USD each" in listed.stdout
    assert imaging(gateway, "caption", images[0], key=secret).exit_code == 0
    usage = imaging(gateway, "usage", key=secret)
    assert usage.exit_code == 0, usage.output
    assert "1 images" in usage.stdout and "left: 9 images" in usage.stdout and "Caption" in usage.stdout


def test_keys_create_list_rotate_revoke(gateway: Process, images: tuple[Path, Path]) -> None:
    created = imaging(
        gateway, "keys", "create", "cli-made", "--rpm", "30", "--images-per-month", "5", "--variant",
        "flux.1-schnell", "--expires-in", "7d", admin=True,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("img_") and "shown once" in created.stderr
    key_id = next(word for word in created.stdout.split() if word.startswith("key_"))
    assert imaging(gateway, "caption", images[0], key=secret).exit_code == 0

    listed = imaging(gateway, "keys", "list", admin=True)
    assert listed.exit_code == 0 and key_id in listed.stdout and "5 images/month" in listed.stdout

    rotated = imaging(gateway, "keys", "rotate", key_id, "--grace", "1h", admin=True)
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.stdout.strip().splitlines()[-1]
    assert new_secret.startswith("img_") and new_secret != secret and "works until" in rotated.stderr
    assert imaging(gateway, "usage", key=new_secret).exit_code == 0

    revoked = imaging(gateway, "keys", "revoke", key_id, admin=True)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    listed = imaging(gateway, "keys", "list", admin=True)
    assert key_id not in listed.stdout
    assert key_id in imaging(gateway, "keys", "list", "--all", admin=True).stdout
    refused = imaging(gateway, "usage", key=new_secret)
    assert refused.exit_code == 1 and "API key" in refused.stderr and "revoked" in refused.stderr


def test_failures_are_one_line_messages(
    gateway: Process, secret: str, images: tuple[Path, Path], tmp_path: Path
) -> None:
    unlimited = secret
    red, _ = images
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    _, secret = new_key(
        gateway, Quota(plan="trial", images_per_month=1, allowed_variants=("flux.1-schnell",))
    )

    def error_line(result: Result, code: int = 1) -> str:
        assert result.exit_code == code, result.output
        lines = result.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("error: ") and "Traceback" not in result.output
        return lines[-1]

    assert "images[0].data" in error_line(imaging(gateway, "caption", not_an_image, key=secret))
    assert "IMAGING_API_KEY" in error_line(imaging(gateway, "caption", red))
    assert "spec.width_px" in error_line(imaging(gateway, "generate", "x", "--size", "65x64", key=secret))
    unknown = error_line(imaging(gateway, "generate", "x", "--variant", "nope", key=unlimited))
    assert unknown.startswith("error: not found: ") and "flux.1-schnell" in unknown
    denied = error_line(imaging(gateway, "generate", "x", "--variant", "flux.1-dev", key=secret))
    assert denied.startswith("error: permission denied: ") and "flux.1-dev" in denied
    assert imaging(gateway, "caption", red, key=secret).exit_code == 0  # the last image of the quota
    quota = error_line(imaging(gateway, "caption", red, key=secret))
    assert "quota exceeded" in quota and "no retry helps" in quota
    assert "admin token" in error_line(imaging(gateway, "keys", "list"))
    assert "not found" in error_line(imaging(gateway, "keys", "revoke", "key_nope", admin=True))

    usage_error = imaging(gateway, "generate", "x", "--size", "big", key=secret)
    assert usage_error.exit_code == 2 and "--size" in usage_error.output
    assert imaging(gateway, "caption", tmp_path / "missing.png", key=secret).exit_code == 2

    dead = f"127.0.0.1:{free_port()}"
    unreachable = CliRunner().invoke(app, ["--address", dead, "--retries", "0", "variants"])
    assert "cannot reach" in error_line(unreachable) and dead in unreachable.stderr


def test_the_installed_command_runs_as_its_own_process(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "IMAGING_ADDRESS": dead, "COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, "-m", "imaging.cli", "--retries", "0", "usage"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        run.returncode == 1 and run.stderr.startswith("error: cannot reach") and "Traceback" not in run.stderr
    )
    helped = subprocess.run(
        [sys.executable, "-m", "imaging.cli", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0
    for command in ("caption", "embed", "match", "generate", "variants", "usage", "keys"):
        assert command in helped.stdout
