"""``imaging generate`` and ``imaging variants``."""

from __future__ import annotations

import re
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from imaging.cli._state import state_of, stderr, stdout
from imaging.client import Generation, ImageFormat, Pricing, Quote

_SIZE = re.compile(r"^(\d+)[xX×](\d+)$")
_ASPECT = re.compile(r"^\d+:\d+$")
_SUFFIX_FORMATS: dict[str, ImageFormat] = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_EXTENSIONS: dict[ImageFormat, str] = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


class Format(StrEnum):
    png = "png"
    jpeg = "jpeg"
    webp = "webp"


def generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="What to draw.")],
    variant: Annotated[str, typer.Option("--variant", "-v", help="A variant from `imaging variants`.")] = (
        "flux.1-schnell"
    ),
    size: Annotated[
        str | None, typer.Option("--size", help="Width x height in pixels, e.g. 512x512.")
    ] = None,
    aspect: Annotated[str | None, typer.Option("--aspect", help="Aspect ratio W:H, e.g. 16:9.")] = None,
    megapixels: Annotated[
        float | None, typer.Option("--megapixels", help="Target area with --aspect.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Denoising steps.")] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the first image (image i: seed + i).")
    ] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", help="Guidance scale.")] = None,
    negative: Annotated[str, typer.Option("--negative", help="What the image must not show.")] = "",
    ref: Annotated[
        list[Path] | None,
        typer.Option(
            "--ref", exists=True, dir_okay=False, readable=True, help="A reference image (repeatable)."
        ),
    ] = None,
    mask: Annotated[
        Path | None, typer.Option("--mask", exists=True, dir_okay=False, help="An inpainting mask.")
    ] = None,
    strength: Annotated[float | None, typer.Option("--strength", help="img2img strength, (0, 1].")] = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="Images to generate.")] = 1,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            dir_okay=False,
            help="Output file (OUT-1.png, OUT-2.png ... for several); default image-<seed>.<format>.",
        ),
    ] = None,
    image_format: Annotated[
        Format | None, typer.Option("--format", help="png, jpeg or webp (default: from -o, else png).")
    ] = None,
    quality: Annotated[
        int | None, typer.Option("--quality", min=1, max=100, help="JPEG/WebP quality.")
    ] = None,
    adapter: Annotated[str, typer.Option("--adapter", help="A LoRA adapter of the variant.")] = "",
    preview_every: Annotated[
        int, typer.Option("--preview-every", min=0, help="Save a low-resolution preview every K steps.")
    ] = 0,
    quote: Annotated[
        bool, typer.Option("--quote", help="Print the exact size and price without generating (free).")
    ] = False,
) -> None:
    """Generate images with a live progress bar; print each file with its seed and cost."""
    if size is not None and aspect is not None:
        raise typer.BadParameter("give --size or --aspect, not both")
    width = height = None
    if size is not None:
        parsed = _SIZE.match(size.strip())
        if parsed is None:
            raise typer.BadParameter(f"--size must look like 512x512, not {size!r}")
        width, height = int(parsed[1]), int(parsed[2])
    if aspect is not None and not _ASPECT.match(aspect.strip()):
        raise typer.BadParameter(f"--aspect must look like 16:9, not {aspect!r}")
    chosen: ImageFormat = "png"
    if image_format is not None:
        chosen = _SUFFIX_FORMATS[f".{image_format.value}"]
    elif output is not None and output.suffix.lower() in _SUFFIX_FORMATS:
        chosen = _SUFFIX_FORMATS[output.suffix.lower()]
    previews: list[Path] = []
    with state_of(ctx).client() as client:
        if quote:
            quoted = client.generator.quote(
                prompt,
                variant=variant,
                width_px=width,
                height_px=height,
                aspect_ratio=aspect,
                megapixels=megapixels,
                steps=steps,
                guidance_scale=guidance,
                negative_prompt=negative,
                seed=seed,
                count=count,
                output_format=chosen,
                quality=quality,
                references=ref or (),
                mask=mask,
                strength=strength,
                adapter=adapter,
            )
            _report_quote(quoted)
            return
        stream = client.generator.stream_generate(
            prompt,
            variant=variant,
            width_px=width,
            height_px=height,
            aspect_ratio=aspect,
            megapixels=megapixels,
            steps=steps,
            guidance_scale=guidance,
            negative_prompt=negative,
            seed=seed,
            count=count,
            output_format=chosen,
            quality=quality,
            references=ref or (),
            mask=mask,
            strength=strength,
            adapter=adapter,
            preview_every=preview_every,
        )
        with ExitStack() as stack:
            progress: Progress | None = None
            task = None
            for event in stream:
                if progress is None:  # shown once the server started: an early refusal shows none
                    progress = stack.enter_context(Progress(*_COLUMNS, console=stderr()))
                    task = progress.add_task(escape(variant), total=event.total_steps, eta="")
                assert task is not None
                progress.update(
                    task,
                    completed=event.step,
                    total=event.total_steps,
                    eta=f"~{event.remaining_s:.1f} s left",
                )
                if event.preview_png is not None:
                    target = _preview_path(output, event.step)
                    target.write_bytes(event.preview_png)
                    previews.append(target)
            if progress is not None and task is not None:
                progress.update(task, eta="done")
        generation = stream.result
    _report(generation, _targets(generation, output, chosen), previews)


_COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TextColumn("steps"),
    TimeElapsedColumn(),
    TextColumn("{task.fields[eta]}"),
)


def _targets(generation: Generation, output: Path | None, image_format: ImageFormat) -> list[Path]:
    if output is None:
        extension = _EXTENSIONS[image_format]
        return [Path(f"image-{image.seed}{extension}") for image in generation.images]
    if len(generation.images) == 1:
        return [output]
    suffix = output.suffix or _EXTENSIONS[image_format]
    return [output.with_name(f"{output.stem}-{n}{suffix}") for n in range(1, len(generation.images) + 1)]


def _preview_path(output: Path | None, step: int) -> Path:
    stem = output.with_suffix("") if output is not None else Path("preview")
    return stem.with_name(f"{stem.name}.step-{step}.png")


def _report(generation: Generation, targets: list[Path], previews: list[Path]) -> None:
    out = stdout()
    table = Table("file", "size", "seed", "cost", title=f"{generation.variant}, {generation.steps} steps")
    for image, target in zip(generation.images, targets, strict=True):
        image.save(target)
        table.add_row(
            escape(str(target)), f"{image.width_px}x{image.height_px}", str(image.seed), str(image.cost)
        )
    out.print(table)
    total = generation.usage.cost
    out.print(
        f"{len(generation.images)} image(s), total {total}, in {generation.timings.total_s:.2f} s",
        highlight=False,
    )
    if previews:
        out.print(f"previews: {', '.join(escape(str(p)) for p in previews)}", highlight=False)


def _report_quote(quoted: Quote) -> None:
    stdout().print(
        f"{quoted.variant}: {quoted.image_count} image(s) of {quoted.width_px}x{quoted.height_px}, "
        f"{quoted.steps} steps, {quoted.cost_per_image} each, total {quoted.usage.cost} (nothing generated)",
        highlight=False,
    )


def variants(ctx: typer.Context) -> None:
    """List the generator's variants with their limits and prices."""
    with state_of(ctx).client() as client:
        served = client.generator.variants()
    table = Table(
        Column("variant", no_wrap=True),
        "default",
        Column("sides, area", overflow="fold"),
        "steps",
        "refs",
        Column("price", overflow="fold"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for v in served:
        adapters = f" (adapters: {', '.join(a.name for a in v.adapters)})" if v.adapters else ""
        table.add_row(
            escape(v.name + adapters),
            f"{v.default_width_px}x{v.default_height_px}",
            f"{v.min_side_px}-{v.max_side_px} px /{v.side_multiple_px}, ≤{v.max_megapixels:.2g} MP",
            f"{v.default_steps}/{v.max_steps}",
            str(v.max_reference_images),
            escape(_price(v.pricing)),
        )
    stdout().print(table)


def _price(pricing: Pricing) -> str:
    if pricing.model == "flat":
        return f"{pricing.per_image} each"
    if pricing.model == "megapixel":
        extra = pricing.per_extra_megapixel.amount.normalize()
        return f"{pricing.first_megapixel} 1st MP +{extra:f}/MP"
    return pricing.model
