"""The generator's LoRA adapters, by name per call, on a real server on a loopback
port: the shipped FLUX.1 [schnell] toy checkpoint with a LoRA made here (random,
seeded, strong enough to change every picture), listed per variant, switched per
pipeline call, never mixed in a batch; and the registry and settings rules."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

import imaging.errors
from generator_svc.server import build_app
from generator_svc.settings import GeneratorSettings
from generator_svc.variants import DEFAULT_VARIANTS_FILE, REPO_ROOT, load_registry
from imaging.common.v1 import common_pb2
from imaging.generator.v1 import generator_pb2 as pb
from imaging.generator.v1 import generator_pb2_grpc
from serving.server import ServingApp
from serving.settings import load_settings
from tests.conftest import png_bytes, running

SHIPPED = REPO_ROOT / "models" / "flux1-schnell"
needs_schnell = pytest.mark.skipif(
    not (SHIPPED / "model_index.json").is_file(), reason="no models/flux1-schnell"
)

SCHNELL = "flux.1-schnell"
# Shares the checkpoint (and so its loaded LoRA layers) but serves no adapter.
PLAIN = "flux.1-pro"
ADAPTER = "test-lora"
DESCRIPTION = "random LoRA made by the test"
# Added by the adapters setting (GENERATOR_ADAPTERS), on the same directory.
EXTRA = "extra"
INVALID = grpc.StatusCode.INVALID_ARGUMENT

_VARIANTS = """
variants:
  flux.1-schnell:
    family: flux.1
    pipeline: FluxPipeline
    checkpoint: {checkpoint}
    description: "FLUX.1 [schnell]: the shipped toy checkpoint"
    max_side_px: 128
    max_megapixels: 0.016384
    max_steps: 8
    max_reference_images: 1
    pricing: {{model: flat, per_image_micros: 3000}}
{adapters}
  flux.1-pro:
    family: flux.1
    pipeline: FluxPipeline
    checkpoint: {checkpoint}
    description: "FLUX.1 [pro]: shares the checkpoint, no adapters"
    max_side_px: 128
    max_megapixels: 0.016384
    max_steps: 8
    pricing: {{model: flat, per_image_micros: 50000}}
"""
_ADAPTERS = """\
    adapters:
      {name}: {{path: {path}, description: "{description}"}}
      missing: {{path: {missing}, description: "not served: no directory"}}
"""


def save_test_lora(root: Path) -> Path:
    """A rank-4 LoRA of the shipped schnell transformer's attention projections,
    its B matrices random (seeded) so that it visibly changes the pictures."""
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig, get_peft_model_state_dict

    transformer: Any = FluxTransformer2DModel.from_pretrained(SHIPPED, subfolder="transformer")
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_B" in name:  # peft starts B at zero: the adapter would change nothing
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    path = root / "flux1-schnell-lora-test"
    FluxPipeline.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(transformer))
    return path


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_test_lora(tmp_path_factory.mktemp("flux-lora"))


@pytest.fixture(scope="module")
def variants_files(lora_dir: Path) -> tuple[Path, Path]:
    """The same variants with the adapter (and one whose directory is missing), and with none."""
    root = lora_dir.parent
    with_adapters = root / "with-adapters.yaml"
    adapters = _ADAPTERS.format(
        name=ADAPTER, path=lora_dir, description=DESCRIPTION, missing=root / "no-such-lora"
    )
    with_adapters.write_text(_VARIANTS.format(checkpoint=SHIPPED, adapters=adapters))
    without = root / "without-adapters.yaml"
    without.write_text(_VARIANTS.format(checkpoint=SHIPPED, adapters=""))
    return with_adapters, without


@contextlib.asynccontextmanager
async def serving(variants: Path, **overrides: Any) -> AsyncIterator[tuple[ServingApp, Any]]:
    values: dict[str, Any] = {"max_batch_delay_ms": 50, "max_batch_size": 4, "cpu_threads": 1, **overrides}
    settings = GeneratorSettings(port=0, metrics_port=0, variants_file=str(variants), **values)
    async with (
        running(build_app(settings)) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield app, generator_pb2_grpc.GeneratorServiceStub(channel)


@pytest.fixture
async def adapter_server(
    variants_files: tuple[Path, Path], lora_dir: Path
) -> AsyncIterator[tuple[ServingApp, Any]]:
    """The adapter from the variants file, and EXTRA from the adapters setting."""
    async with serving(variants_files[0], adapters={SCHNELL: {EXTRA: str(lora_dir)}}) as server:
        yield server


def spec(**fields: Any) -> pb.GenerationSpec:
    values: dict[str, Any] = {"prompt": "a big red circle on the left", "variant": SCHNELL, "seed": 7}
    values.update(fields)
    return pb.GenerationSpec(**values)


async def generate(stub: Any, **fields: Any) -> bytes:
    response = await stub.Generate(pb.GenerateRequest(spec=spec(**fields)))
    data: bytes = response.images[0].image.data
    return data


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def difference(a: bytes, b: bytes) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())


@needs_schnell
async def test_list_variants_lists_each_variants_adapters_sorted(
    adapter_server: tuple[ServingApp, Any],
) -> None:
    _, stub = adapter_server
    response = await stub.ListVariants(pb.ListVariantsRequest())
    by_name = {v.name: v for v in response.variants}
    # "missing" is configured but has no directory: not served.
    assert [(a.name, a.description) for a in by_name[SCHNELL].adapters] == [
        (EXTRA, ""),
        (ADAPTER, DESCRIPTION),
    ]
    # The other variant on the same checkpoint serves none of them.
    assert list(by_name[PLAIN].adapters) == []


@needs_schnell
async def test_an_adapter_changes_the_image_and_plain_calls_match_a_server_without_adapters(
    adapter_server: tuple[ServingApp, Any], variants_files: tuple[Path, Path]
) -> None:
    _, stub = adapter_server
    reference = [common_pb2.Image(data=png_bytes(Image.new("RGB", (64, 64), (220, 30, 30))))]
    # The adapter first, so each plain call below runs after LoRA was switched off again.
    adapted = await generate(stub, adapter=ADAPTER)
    plain = await generate(stub)
    plain_other_variant = await generate(stub, variant=PLAIN)
    adapted_img2img = await generate(stub, adapter=ADAPTER, reference_images=reference, strength=0.75)
    plain_img2img = await generate(stub, reference_images=reference, strength=0.75)
    assert await generate(stub, adapter=ADAPTER) == adapted
    assert difference(adapted, plain) > 30
    # The img2img form shares the transformer, so it follows the adapter too.
    assert difference(adapted_img2img, plain_img2img) > 30

    async with serving(variants_files[1]) as (_, bare):
        assert await generate(bare) == plain
        assert await generate(bare, variant=PLAIN) == plain_other_variant
        assert await generate(bare, reference_images=reference, strength=0.75) == plain_img2img


@needs_schnell
async def test_an_adapter_the_variant_does_not_serve_is_invalid_and_the_server_keeps_serving(
    adapter_server: tuple[ServingApp, Any],
) -> None:
    _, stub = adapter_server
    cases = [
        (SCHNELL, "outline", f"its adapters: {EXTRA}, {ADAPTER}"),
        (SCHNELL, "missing", f"its adapters: {EXTRA}, {ADAPTER}"),
        (SCHNELL, "Not A Name", f"its adapters: {EXTRA}, {ADAPTER}"),
        (PLAIN, ADAPTER, "it has none"),
    ]
    for variant, adapter, listed in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Generate(pb.GenerateRequest(spec=spec(variant=variant, adapter=adapter)))
        info = imaging.errors.details(caught.value)
        assert info.code == INVALID, (variant, adapter)
        assert [v.field for v in info.field_violations] == ["spec.adapter"], (variant, adapter)
        assert listed in info.field_violations[0].description, info.field_violations[0].description
        assert info.reason == "ADAPTER_NOT_FOUND"
        assert info.metadata == {"variant": variant, "adapter": adapter}
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for _ in stub.StreamGenerate(pb.StreamGenerateRequest(spec=spec(adapter="outline"))):
            pass
    assert imaging.errors.details(streamed.value).field_violations[0].field == "spec.adapter"
    response = await stub.Generate(pb.GenerateRequest(spec=spec(adapter=ADAPTER)))
    assert len(response.images) == 1


@needs_schnell
async def test_concurrent_adapter_and_plain_calls_each_get_their_own_image(
    adapter_server: tuple[ServingApp, Any],
) -> None:
    app, stub = adapter_server
    # Interleaved: adapter, plain, adapter, plain ... with each seed once per kind.
    calls = [{"seed": 20 + i // 2, "adapter": ADAPTER if i % 2 == 0 else ""} for i in range(6)]
    alone = [await generate(stub, **call) for call in calls]
    labels = {"model": "generator", "operation": "generate"}
    batches_before = app.registry.get_sample_value("imaging_batch_size_count", labels) or 0.0
    together = await asyncio.gather(*(generate(stub, **call) for call in calls))
    batches = (app.registry.get_sample_value("imaging_batch_size_count", labels) or 0.0) - batches_before
    assert batches < len(calls), "calls with the same adapter should have shared a pipeline call"
    for call, single, batched in zip(calls, alone, together, strict=True):
        # Batched matrix products may round differently in the last float bit on CPU (one level
        # in 255 at most, as for any batch); an image made with the other adapter state differs
        # by far more (below), so no batch ran with a mix of adapters.
        assert difference(single, batched) <= 1, call
    for seed_index in range(3):
        adapted, plain = together[2 * seed_index], together[2 * seed_index + 1]
        assert difference(adapted, plain) > 30, calls[2 * seed_index]


# -- settings and the registry, without a server ------------------------------------------


def test_generator_adapters_setting_is_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lora = tmp_path / "lora"
    lora.mkdir()
    monkeypatch.setenv("GENERATOR_ADAPTERS", json.dumps({SCHNELL: {"outline": str(lora)}}))
    assert load_settings(GeneratorSettings, []).adapters == {SCHNELL: {"outline": str(lora)}}

    monkeypatch.setenv("GENERATOR_ADAPTERS", json.dumps({"flux.9": {"outline": str(lora)}}))
    with pytest.raises(ValidationError, match=r"adapters setting names variant 'flux\.9'"):
        load_settings(GeneratorSettings, [])
    monkeypatch.setenv("GENERATOR_ADAPTERS", json.dumps({SCHNELL: {"Outline!": str(lora)}}))
    with pytest.raises(ValidationError, match="adapter name 'Outline!' must be"):
        load_settings(GeneratorSettings, [])


def _write_variants(path: Path, variants: dict[str, dict[str, Any]]) -> Path:
    base = {
        "family": "flux.1",
        "pipeline": "FluxPipeline",
        "description": "",
        "default_width_px": 64,
        "default_height_px": 64,
        "default_steps": 4,
    }
    pricing = {"model": "flat", "per_image_micros": 1}
    path.write_text(
        json.dumps({"variants": {name: {**base, "pricing": pricing, **v} for name, v in variants.items()}})
    )
    return path


def test_registry_serves_adapters_whose_directory_exists(tmp_path: Path) -> None:
    for name in ("ckpt", "other-ckpt", "lora-a", "lora-b"):
        (tmp_path / name).mkdir()
    path = _write_variants(
        tmp_path / "variants.yaml",
        {
            "a": {
                "checkpoint": "ckpt",
                "adapters": {
                    "outline": {"path": "lora-a", "description": "outlines"},
                    "gone": {"path": "no-such-dir"},
                },
            },
            # Shares the checkpoint and the adapter's directory: allowed.
            "b": {"checkpoint": "ckpt", "adapters": {"outline": {"path": str(tmp_path / "lora-a")}}},
            "c": {"checkpoint": "other-ckpt"},
            "d": {"checkpoint": "no-such-ckpt", "adapters": {"outline": {"path": "lora-b"}}},
        },
    )
    registry = load_registry(path, base=tmp_path, adapters={"c": {"outline": "lora-b"}, "d": {"x": "lora-b"}})
    served = {v.name: [(a.name, a.path, a.description) for a in v.adapters] for v in registry.served}
    lora_a, lora_b = str((tmp_path / "lora-a").resolve()), str((tmp_path / "lora-b").resolve())
    assert served == {
        "a": [("outline", lora_a, "outlines")],
        "b": [("outline", lora_a, "")],
        "c": [("outline", lora_b, "")],
    }
    assert registry.adapters == {
        str(tmp_path / "ckpt"): {"outline": lora_a},
        str(tmp_path / "other-ckpt"): {"outline": lora_b},
    }
    # The setting replaces an adapter of the file by name, with no description.
    replaced = load_registry(
        path, base=tmp_path, adapters={"a": {"outline": "lora-b"}, "b": {"outline": "lora-b"}}
    )
    assert [(a.name, a.path, a.description) for a in replaced.variants["a"].adapters] == [
        ("outline", lora_b, "")
    ]


def test_registry_rejects_bad_adapters(tmp_path: Path) -> None:
    for name in ("ckpt", "lora-a", "lora-b"):
        (tmp_path / name).mkdir()
    cases: list[tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]], str]] = [
        ({"a": {"checkpoint": "ckpt", "adapters": {"Outline": {"path": "lora-a"}}}}, {}, "adapter name"),
        ({"a": {"checkpoint": "ckpt", "adapters": {"-x": {"path": "lora-a"}}}}, {}, "adapter name"),
        ({"a": {"checkpoint": "ckpt", "adapters": {"x" * 64: {"path": "lora-a"}}}}, {}, "adapter name"),
        ({"a": {"checkpoint": "ckpt", "adapters": {"x": {"dir": "lora-a"}}}}, {}, "needs a 'path'"),
        ({"a": {"checkpoint": "ckpt", "adapters": {"x": {"path": "lora-a", "rank": 4}}}}, {}, "unknown keys"),
        ({"a": {"checkpoint": "ckpt", "adapters": ["lora-a"]}}, {}, "adapters must map"),
        ({"a": {"checkpoint": "ckpt"}}, {"b": {"x": "lora-a"}}, "names variant 'b'"),
        (
            {
                "a": {"checkpoint": "ckpt", "adapters": {"x": {"path": "lora-a"}}},
                "b": {"checkpoint": "ckpt", "adapters": {"x": {"path": "lora-b"}}},
            },
            {},
            "share checkpoint .* two directories",
        ),
        (
            {"a": {"checkpoint": "ckpt", "adapters": {"x": {"path": "lora-a"}}}, "b": {"checkpoint": "ckpt"}},
            {"b": {"x": "lora-b"}},
            "share checkpoint .* two directories",
        ),
    ]
    for variants, overrides, message in cases:
        path = _write_variants(tmp_path / "variants.yaml", variants)
        with pytest.raises(ValueError, match=message):
            load_registry(path, base=tmp_path, adapters=overrides)


def test_shipped_adapters_are_served_only_when_their_directory_exists() -> None:
    registry = load_registry(DEFAULT_VARIANTS_FILE)
    for v in registry.served:
        for adapter in v.adapters:
            assert Path(adapter.path).is_dir(), (v.name, adapter.name)
    outline = {v.name for v in registry.served if "outline" in v.adapter_names}
    if not (REPO_ROOT / "models" / "flux1-schnell-lora-outline").is_dir():
        assert SCHNELL not in outline
    if not (REPO_ROOT / "models" / "flux2-klein-lora-outline").is_dir():
        assert not outline & {"flux.2-klein-4b", "flux.2-klein-9b"}
