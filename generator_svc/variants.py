"""The variant registry: named FLUX variants, loaded from a YAML file.

Each variant maps a request name (``flux.1-schnell``, ``flux.2-pro`` ...) to
a family, a diffusers pipeline class, a checkpoint, its defaults, limits and
price. Several variants may share one checkpoint; the engine loads each
checkpoint once. A variant is served only when its checkpoint is a local
directory that exists, or a ``hub:owner/name`` id (loaded with
``from_pretrained``, which needs the network or a filled Hugging Face cache).

File format (see ``generator_svc/variants.yaml``)::

    variants:
      flux.1-schnell:
        family: flux.1                # or flux.2
        pipeline: FluxPipeline        # or Flux2KleinPipeline
        checkpoint: models/flux1-schnell   # relative: to the repository root
        description: "..."
        min_side_px: 64
        ...                           # every VariantConfig field below
        pricing: {model: flat, per_image_micros: 3000}
        adapters:                     # optional LoRA adapters, by request name
          outline: {path: models/flux1-schnell-lora-outline, description: "..."}

Defaults a variant leaves unset (size, steps, guidance, true CFG, negative
prompt, max_sequence_length) come from the checkpoint's
``imaging_defaults.json`` when it has one, else from the family's fallbacks.

LoRA adapters come from a variant's ``adapters`` mapping and from the
``adapters`` setting (``GENERATOR_ADAPTERS``), which adds or replaces them per
variant. Like a checkpoint, an adapter is served only when its directory
exists. The engine loads each adapter once per checkpoint, so variants sharing
a checkpoint may share an adapter name, but only for one directory.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from generator_svc.options import HUB_PREFIX, Family

_LOGGER = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS_FILE = Path(__file__).resolve().parent / "variants.yaml"

# Pipeline classes each family can be served by (the engine knows how to call these).
PIPELINES = {Family.FLUX_1: ("FluxPipeline",), Family.FLUX_2: ("Flux2KleinPipeline",)}

MEGAPIXEL = 1_000_000
# Highest guidance and true-CFG scales a variant or a call may set.
MAX_GUIDANCE_SCALE = 20.0
MAX_TRUE_CFG_SCALE = 20.0
# A LoRA adapter's request name: lower-case letters, digits and hyphens, 1-63 characters.
ADAPTER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

# The ``adapters`` setting: variant -> adapter name -> directory.
AdapterOverrides = Mapping[str, Mapping[str, str]]


class PricingModel(Enum):
    FLAT = "flat"
    MEGAPIXEL = "megapixel"


@dataclass(frozen=True)
class Pricing:
    """A price list in micros of the billing currency (1 USD = 1,000,000)."""

    model: PricingModel
    per_image_micros: int = 0
    first_megapixel_micros: int = 0
    per_extra_megapixel_micros: int = 0
    per_input_megapixel_micros: int = 0

    def image_cost_micros(self, output_pixels: int, input_pixels: int) -> int:
        """The price of one image: flat, or the first output megapixel (or part of
        it) plus further output and all input megapixels pro rata, rounded half up
        to a whole micro. Summed in micros x pixels, integers: exact for any size."""
        if self.model is PricingModel.FLAT:
            return self.per_image_micros
        extra_pixels = max(0, output_pixels - MEGAPIXEL)
        micro_pixels = (
            self.first_megapixel_micros * MEGAPIXEL
            + self.per_extra_megapixel_micros * extra_pixels
            + self.per_input_megapixel_micros * input_pixels
        )
        return (micro_pixels + MEGAPIXEL // 2) // MEGAPIXEL


@dataclass(frozen=True)
class AdapterConfig:
    """A served LoRA adapter of a variant: its request name, its directory
    (absolute, symlinks resolved) and a human description (may be empty)."""

    name: str
    path: str
    description: str = ""


@dataclass(frozen=True)
class VariantConfig:
    """One served variant, defaults resolved. Sizes in pixels, areas in megapixels."""

    name: str
    family: Family
    pipeline: str
    checkpoint: str  # a local directory (absolute) or "hub:owner/name"
    description: str
    pricing: Pricing
    min_side_px: int = 64
    max_side_px: int = 1024
    side_multiple_px: int = 16
    max_megapixels: float = 1.0
    default_width_px: int = 0
    default_height_px: int = 0
    default_steps: int = 0
    max_steps: int = 50
    supports_guidance: bool = False
    default_guidance_scale: float = 0.0
    supports_true_cfg: bool = False
    default_true_cfg_scale: float = 1.0
    default_negative_prompt: str = ""
    max_reference_images: int = 0
    supports_mask: bool = False
    max_image_count: int = 4
    max_prompt_chars: int = 2000
    max_sequence_length: int = 512
    text_encoder_out_layers: tuple[int, ...] = ()
    # The served LoRA adapters, sorted by name.
    adapters: tuple[AdapterConfig, ...] = ()

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * MEGAPIXEL)

    @property
    def adapter_names(self) -> list[str]:
        return [adapter.name for adapter in self.adapters]

    def check(self) -> None:
        """Raises ValueError naming the variant and the rule a resolved config breaks."""
        rules = [
            (self.pipeline in PIPELINES[self.family], f"pipeline must be one of {PIPELINES[self.family]}"),
            (self.side_multiple_px >= 1, "side_multiple_px must be >= 1"),
            (1 <= self.min_side_px <= self.max_side_px, "need 1 <= min_side_px <= max_side_px"),
            (
                self.min_side_px % self.side_multiple_px == 0,
                "min_side_px must be a multiple of side_multiple_px",
            ),
            (self.max_megapixels > 0, "max_megapixels must be > 0"),
            (self.max_steps >= 1, "max_steps must be >= 1"),
            (1 <= self.default_steps <= self.max_steps, "default_steps must be in [1, max_steps]"),
            (self.max_image_count >= 1, "max_image_count must be >= 1"),
            (self.max_prompt_chars >= 1, "max_prompt_chars must be >= 1"),
            (self.max_reference_images >= 0, "max_reference_images must be >= 0"),
            (
                not self.supports_mask or self.max_reference_images >= 1,
                "a mask needs max_reference_images >= 1",
            ),
            (
                not (self.supports_mask and self.family is Family.FLUX_2),
                "masks are served for flux.1 only (FluxInpaintPipeline)",
            ),
            (
                1 <= self.default_true_cfg_scale <= MAX_TRUE_CFG_SCALE,
                f"default_true_cfg_scale must be in [1, {MAX_TRUE_CFG_SCALE:g}]",
            ),
            (
                0 <= self.default_guidance_scale <= MAX_GUIDANCE_SCALE,
                f"default_guidance_scale must be in [0, {MAX_GUIDANCE_SCALE:g}]",
            ),
        ]
        for side in (self.default_width_px, self.default_height_px):
            rules.append(
                (
                    self.min_side_px <= side <= self.max_side_px and side % self.side_multiple_px == 0,
                    f"default size {side} px breaks the side limits or multiple",
                )
            )
        rules.append(
            (
                self.default_width_px * self.default_height_px <= self.max_pixels,
                "the default size exceeds max_megapixels",
            )
        )
        for ok, rule in rules:
            if not ok:
                raise ValueError(f"variant {self.name}: {rule}")


@dataclass(frozen=True)
class Registry:
    """The served variants by name."""

    variants: dict[str, VariantConfig]

    def get(self, name: str) -> VariantConfig | None:
        return self.variants.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self.variants)

    @property
    def served(self) -> list[VariantConfig]:
        """Every variant, by name."""
        return sorted(self.variants.values(), key=lambda v: v.name)

    @property
    def checkpoints(self) -> dict[str, str]:
        """Checkpoint -> pipeline class, once per checkpoint."""
        return {v.checkpoint: v.pipeline for v in self.variants.values()}

    @property
    def adapters(self) -> dict[str, dict[str, str]]:
        """Checkpoint -> adapter name -> directory: what the engine loads, once per
        checkpoint (``load_registry`` checks that a name has one directory per checkpoint)."""
        loaded: dict[str, dict[str, str]] = {}
        for v in self.served:
            for adapter in v.adapters:
                loaded.setdefault(v.checkpoint, {})[adapter.name] = adapter.path
        return loaded


_FAMILIES = {family.value: family for family in Family}
# Defaults neither the variant nor its checkpoint's imaging_defaults.json sets.
_FALLBACKS: dict[str, Any] = {
    "width": 1024,
    "height": 1024,
    "num_inference_steps": 28,
    "true_cfg_scale": 1.0,
    "negative_prompt": "",
    "max_sequence_length": 512,
    "text_encoder_out_layers": (),
}
_FALLBACK_GUIDANCE_SCALES = {Family.FLUX_1: 3.5, Family.FLUX_2: 4.0}
_FIELDS = {f for f in VariantConfig.__dataclass_fields__}


def resolve_checkpoint(value: str, base: Path = REPO_ROOT) -> str | None:
    """Returns the checkpoint to load (an absolute directory or ``hub:`` id), or
    None when a local directory does not exist."""
    if value.startswith(HUB_PREFIX):
        return value
    path = _absolute(value, base)
    return str(path) if path.is_dir() else None


def _absolute(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def checkpoint_defaults(checkpoint: str) -> dict[str, Any]:
    """Reads ``imaging_defaults.json`` of a local checkpoint ({} if it has none)."""
    if checkpoint.startswith(HUB_PREFIX):
        return {}
    path = Path(checkpoint) / "imaging_defaults.json"
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def _pricing(name: str, raw: Any) -> Pricing:
    if not isinstance(raw, dict) or "model" not in raw:
        raise ValueError(f"variant {name}: pricing needs a model (flat or megapixel) and its prices")
    values = dict(raw)
    try:
        model = PricingModel(values.pop("model"))
        pricing = Pricing(model=model, **{k: int(v) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"variant {name}: bad pricing {raw}: {exc}") from None
    prices = (
        pricing.per_image_micros,
        pricing.first_megapixel_micros,
        pricing.per_extra_megapixel_micros,
        pricing.per_input_megapixel_micros,
    )
    if min(prices) < 0:
        raise ValueError(f"variant {name}: prices must be >= 0 micros")
    return pricing


def check_adapter_name(name: str) -> str | None:
    """Says what is wrong with an adapter name, or None when it is valid."""
    if ADAPTER_NAME.fullmatch(name):
        return None
    return (
        f"adapter name {name!r} must be 1-63 lower-case letters, digits or hyphens, not starting "
        "with a hyphen"
    )


def _adapters(variant: str, raw: Any, overrides: Mapping[str, str], base: Path) -> tuple[AdapterConfig, ...]:
    """A variant's served adapters, sorted by name: the file's entries, with the
    ``adapters`` setting's (no description) added or replacing same-named ones.
    An adapter whose directory is missing is skipped (logged)."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(f"variant {variant}: adapters must map a name to {{path, description}}")
    entries: dict[str, tuple[str, str]] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ValueError(f"variant {variant}: adapter {name} needs a 'path' (a directory)")
        unknown = set(entry) - {"path", "description"}
        if unknown:
            raise ValueError(f"variant {variant}: adapter {name}: unknown keys {sorted(unknown)}")
        entries[str(name)] = (entry["path"], str(entry.get("description") or ""))
    for name, path in overrides.items():
        entries[name] = (path, "")
    served = []
    for name, (path, description) in sorted(entries.items()):
        problem = check_adapter_name(name)
        if problem:
            raise ValueError(f"variant {variant}: {problem}")
        directory = _absolute(path, base)
        if not directory.is_dir():
            _LOGGER.info(
                "adapter not served: no directory", extra={"variant": variant, "adapter": name, "path": path}
            )
            continue
        served.append(AdapterConfig(name, str(directory.resolve()), description))
    return tuple(served)


def _variant(
    name: str, raw: dict[str, Any], checkpoint: str, adapters: tuple[AdapterConfig, ...] = ()
) -> VariantConfig:
    unknown = set(raw) - (_FIELDS - {"name"})
    if unknown:
        raise ValueError(f"variant {name}: unknown keys {sorted(unknown)}")
    family_name = raw.get("family")
    if family_name not in _FAMILIES:
        raise ValueError(f"variant {name}: family must be one of {sorted(_FAMILIES)}, got {family_name!r}")
    family = _FAMILIES[family_name]
    values = {k: v for k, v in raw.items() if k not in ("family", "pricing", "checkpoint", "adapters")}
    if "text_encoder_out_layers" in values:
        values["text_encoder_out_layers"] = tuple(values["text_encoder_out_layers"])
    defaults = {
        **_FALLBACKS,
        "guidance_scale": _FALLBACK_GUIDANCE_SCALES[family],
        **checkpoint_defaults(checkpoint),
    }
    inherited = {
        "default_width_px": defaults["width"],
        "default_height_px": defaults["height"],
        "default_steps": defaults["num_inference_steps"],
        "default_guidance_scale": defaults["guidance_scale"],
        "default_true_cfg_scale": defaults["true_cfg_scale"],
        "default_negative_prompt": defaults["negative_prompt"],
        "max_sequence_length": defaults["max_sequence_length"],
        "text_encoder_out_layers": tuple(defaults["text_encoder_out_layers"]),
    }
    for key, value in inherited.items():
        values.setdefault(key, value)
    config = VariantConfig(
        name=name,
        family=family,
        checkpoint=checkpoint,
        pricing=_pricing(name, raw.get("pricing")),
        adapters=adapters,
        **values,
    )
    if not config.supports_true_cfg:
        config = replace(config, default_true_cfg_scale=1.0)
    config.check()
    return config


def _entries(path: str | Path) -> dict[Any, Any]:
    document = yaml.safe_load(Path(path).read_text()) or {}
    entries = document.get("variants") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: expected a top-level 'variants' mapping of name -> settings")
    return entries


def check_adapter_overrides(overrides: AdapterOverrides, variants_file: str | Path) -> None:
    """Raises ValueError when the ``adapters`` setting names a variant the file does
    not configure, or an adapter by an invalid name."""
    try:
        configured = {str(name) for name in _entries(variants_file)}
    except OSError as exc:
        raise ValueError(f"cannot read the variants file {variants_file}: {exc}") from None
    _check_overrides(overrides, configured, variants_file)


def _check_overrides(overrides: AdapterOverrides, configured: set[str], variants_file: str | Path) -> None:
    for variant, adapters in overrides.items():
        if variant not in configured:
            raise ValueError(
                f"the adapters setting names variant {variant!r}, which {variants_file} does not configure; "
                f"configured variants: {', '.join(sorted(configured)) or 'none'}"
            )
        for name in adapters:
            problem = check_adapter_name(name)
            if problem:
                raise ValueError(f"the adapters setting, variant {variant}: {problem}")


def _check_shared_adapters(variants: Mapping[str, VariantConfig]) -> None:
    """One checkpoint, one directory per adapter name: the engine loads adapters per checkpoint."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for v in sorted(variants.values(), key=lambda v: v.name):
        for adapter in v.adapters:
            first = seen.setdefault((v.checkpoint, adapter.name), (v.name, adapter.path))
            if first[1] != adapter.path:
                raise ValueError(
                    f"variants {first[0]} and {v.name} share checkpoint {v.checkpoint} but give adapter "
                    f"{adapter.name!r} two directories ({first[1]} and {adapter.path}); use one directory "
                    "or two adapter names"
                )


def load_registry(
    path: str | Path, base: Path = REPO_ROOT, adapters: AdapterOverrides | None = None
) -> Registry:
    """Loads the variants of a YAML file; raises ValueError on a malformed entry.

    Relative checkpoint and adapter paths are resolved against ``base`` (the
    repository root); variants whose checkpoint directory is missing, and
    adapters whose directory is missing, are skipped (logged). ``adapters``
    (the setting) adds or replaces adapters per variant; naming a variant the
    file does not configure is a ValueError, as is one adapter name with two
    directories on one checkpoint.
    """
    entries = _entries(path)
    overrides = adapters or {}
    _check_overrides(overrides, {str(name) for name in entries}, path)
    variants: dict[str, VariantConfig] = {}
    for name, raw in entries.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("checkpoint"), str):
            raise ValueError(f"variant {name}: needs a 'checkpoint' (directory or hub:owner/name)")
        checkpoint = resolve_checkpoint(raw["checkpoint"], base)
        if checkpoint is None:
            _LOGGER.info(
                "variant not served: no checkpoint", extra={"variant": name, "path": raw["checkpoint"]}
            )
            continue
        served = _adapters(str(name), raw.get("adapters"), overrides.get(str(name), {}), base)
        variants[str(name)] = _variant(str(name), raw, checkpoint, served)
    _check_shared_adapters(variants)
    return Registry(variants=variants)
