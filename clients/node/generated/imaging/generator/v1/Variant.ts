// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { Family as _imaging_generator_v1_Family, Family__Output as _imaging_generator_v1_Family__Output } from '../../../imaging/generator/v1/Family';
import type { Pricing as _imaging_generator_v1_Pricing, Pricing__Output as _imaging_generator_v1_Pricing__Output } from '../../../imaging/generator/v1/Pricing';
import type { Adapter as _imaging_generator_v1_Adapter, Adapter__Output as _imaging_generator_v1_Adapter__Output } from '../../../imaging/generator/v1/Adapter';

/**
 * A generation variant: a named model with its defaults, limits and price.
 */
export interface Variant {
  /**
   * The name requests use, for example "flux.1-schnell" or "flux.2-klein-4b".
   */
  'name'?: (string);
  /**
   * The family; says which pipeline serves it.
   */
  'family'?: (_imaging_generator_v1_Family);
  /**
   * A human description, including which checkpoint serves it.
   */
  'description'?: (string);
  /**
   * The smallest allowed width or height, in pixels.
   */
  'min_side_px'?: (number);
  /**
   * The largest allowed width or height, in pixels.
   */
  'max_side_px'?: (number);
  /**
   * Width and height must be multiples of this, in pixels.
   */
  'side_multiple_px'?: (number);
  /**
   * The largest allowed width x height, in megapixels (1 MP = 1,000,000 px).
   */
  'max_megapixels'?: (number | string);
  /**
   * The width used when a request gives no size, in pixels.
   */
  'default_width_px'?: (number);
  /**
   * The height used when a request gives no size, in pixels.
   */
  'default_height_px'?: (number);
  /**
   * Denoising steps used when a request leaves `steps` unset.
   */
  'default_steps'?: (number);
  /**
   * The most denoising steps a request may ask for.
   */
  'max_steps'?: (number);
  /**
   * Whether `guidance_scale` has an effect (guidance-distilled variants
   * ignore it).
   */
  'supports_guidance'?: (boolean);
  /**
   * The guidance scale used when a request leaves it unset.
   */
  'default_guidance_scale'?: (number | string);
  /**
   * Whether true classifier-free guidance (`true_cfg_scale` with a negative
   * prompt) is available.
   */
  'supports_true_cfg'?: (boolean);
  /**
   * The true CFG scale used when a request leaves it unset (1 means off).
   */
  'default_true_cfg_scale'?: (number | string);
  /**
   * The most reference images a request may carry (0: none).
   */
  'max_reference_images'?: (number);
  /**
   * Whether a mask (inpainting) is accepted.
   */
  'supports_mask'?: (boolean);
  /**
   * The price list.
   */
  'pricing'?: (_imaging_generator_v1_Pricing | null);
  /**
   * The most images one request may ask for.
   */
  'max_image_count'?: (number);
  /**
   * The longest prompt accepted, in characters.
   */
  'max_prompt_chars'?: (number);
  /**
   * The LoRA adapters a request may name in `GenerationSpec.adapter` for this
   * variant, sorted by name. Empty: none.
   */
  'adapters'?: (_imaging_generator_v1_Adapter)[];
}

/**
 * A generation variant: a named model with its defaults, limits and price.
 */
export interface Variant__Output {
  /**
   * The name requests use, for example "flux.1-schnell" or "flux.2-klein-4b".
   */
  'name': (string);
  /**
   * The family; says which pipeline serves it.
   */
  'family': (_imaging_generator_v1_Family__Output);
  /**
   * A human description, including which checkpoint serves it.
   */
  'description': (string);
  /**
   * The smallest allowed width or height, in pixels.
   */
  'min_side_px': (number);
  /**
   * The largest allowed width or height, in pixels.
   */
  'max_side_px': (number);
  /**
   * Width and height must be multiples of this, in pixels.
   */
  'side_multiple_px': (number);
  /**
   * The largest allowed width x height, in megapixels (1 MP = 1,000,000 px).
   */
  'max_megapixels': (number);
  /**
   * The width used when a request gives no size, in pixels.
   */
  'default_width_px': (number);
  /**
   * The height used when a request gives no size, in pixels.
   */
  'default_height_px': (number);
  /**
   * Denoising steps used when a request leaves `steps` unset.
   */
  'default_steps': (number);
  /**
   * The most denoising steps a request may ask for.
   */
  'max_steps': (number);
  /**
   * Whether `guidance_scale` has an effect (guidance-distilled variants
   * ignore it).
   */
  'supports_guidance': (boolean);
  /**
   * The guidance scale used when a request leaves it unset.
   */
  'default_guidance_scale': (number);
  /**
   * Whether true classifier-free guidance (`true_cfg_scale` with a negative
   * prompt) is available.
   */
  'supports_true_cfg': (boolean);
  /**
   * The true CFG scale used when a request leaves it unset (1 means off).
   */
  'default_true_cfg_scale': (number);
  /**
   * The most reference images a request may carry (0: none).
   */
  'max_reference_images': (number);
  /**
   * Whether a mask (inpainting) is accepted.
   */
  'supports_mask': (boolean);
  /**
   * The price list.
   */
  'pricing': (_imaging_generator_v1_Pricing__Output | null);
  /**
   * The most images one request may ask for.
   */
  'max_image_count': (number);
  /**
   * The longest prompt accepted, in characters.
   */
  'max_prompt_chars': (number);
  /**
   * The LoRA adapters a request may name in `GenerationSpec.adapter` for this
   * variant, sorted by name. Empty: none.
   */
  'adapters': (_imaging_generator_v1_Adapter__Output)[];
}
