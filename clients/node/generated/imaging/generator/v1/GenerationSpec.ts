// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { ImageFormat as _imaging_common_v1_ImageFormat, ImageFormat__Output as _imaging_common_v1_ImageFormat__Output } from '../../../imaging/common/v1/ImageFormat';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { Long } from '@grpc/proto-loader';

/**
 * What to generate: shared by Generate and StreamGenerate.
 */
export interface GenerationSpec {
  /**
   * The prompt, 1 to the variant's max_prompt_chars characters. Required.
   */
  'prompt'?: (string);
  /**
   * What the image must not show; used with true CFG. Empty: none (the
   * variant's default negative prompt where it has one).
   */
  'negative_prompt'?: (string);
  /**
   * The variant name from ListVariants. Required.
   */
  'variant'?: (string);
  /**
   * The output width in pixels, a multiple of the variant's side_multiple_px
   * within its side limits. 0: from aspect_ratio, else the variant's default.
   * Never rounded: a size the variant cannot make is INVALID_ARGUMENT.
   */
  'width_px'?: (number);
  /**
   * The output height in pixels; the same rules as width_px. Set both or
   * neither.
   */
  'height_px'?: (number);
  /**
   * An aspect ratio "W:H" such as "16:9", used when width and height are 0;
   * the size is the largest with that ratio, the variant's multiple and at
   * most `megapixels`. Empty: square.
   */
  'aspect_ratio'?: (string);
  /**
   * The target size in megapixels with aspect_ratio, > 0 and at most the
   * variant's max_megapixels. 0: the variant's default area.
   */
  'megapixels'?: (number | string);
  /**
   * Denoising steps, 1 to the variant's max_steps. Unset: default_steps.
   */
  'steps'?: (number);
  /**
   * Embedded guidance scale, 0 to 20, for variants that support it. Unset:
   * the variant's default.
   */
  'guidance_scale'?: (number | string);
  /**
   * True classifier-free guidance scale, 1 to 20 (1 means off). Unset: the
   * variant's default.
   */
  'true_cfg_scale'?: (number | string);
  /**
   * Seed of the first image; image i uses seed + i. The same seed, parameters
   * and device give identical images. Unset: a random seed, echoed back.
   */
  'seed'?: (number | string | Long);
  /**
   * Images to generate, 1 to the variant's max_image_count. 0 means 1.
   */
  'image_count'?: (number);
  /**
   * The output encoding. Default PNG.
   */
  'output_format'?: (_imaging_common_v1_ImageFormat);
  /**
   * JPEG/WebP quality, 1 to 100. 0 means 90. Ignored for PNG.
   */
  'output_quality'?: (number);
  /**
   * Reference images (edits, subject or style references), at most the
   * variant's max_reference_images.
   */
  'reference_images'?: (_imaging_common_v1_Image)[];
  /**
   * An inpainting mask the size of the first reference image: white is
   * repainted, black kept. Only where the variant supports_mask.
   */
  'mask'?: (_imaging_common_v1_Image | null);
  /**
   * How far an img2img or inpaint call moves from the reference, in (0, 1].
   * Unset: 0.85 with a mask, else the reference is used as an edit input.
   */
  'strength'?: (number | string);
  /**
   * A LoRA adapter of the variant, by a name ListVariants lists for it; the
   * adapter applies to every image of the call. Empty: the base model. A name
   * the variant does not serve is INVALID_ARGUMENT.
   */
  'adapter'?: (string);
  '_steps'?: "steps";
  '_guidance_scale'?: "guidance_scale";
  '_true_cfg_scale'?: "true_cfg_scale";
  '_seed'?: "seed";
  '_strength'?: "strength";
}

/**
 * What to generate: shared by Generate and StreamGenerate.
 */
export interface GenerationSpec__Output {
  /**
   * The prompt, 1 to the variant's max_prompt_chars characters. Required.
   */
  'prompt': (string);
  /**
   * What the image must not show; used with true CFG. Empty: none (the
   * variant's default negative prompt where it has one).
   */
  'negative_prompt': (string);
  /**
   * The variant name from ListVariants. Required.
   */
  'variant': (string);
  /**
   * The output width in pixels, a multiple of the variant's side_multiple_px
   * within its side limits. 0: from aspect_ratio, else the variant's default.
   * Never rounded: a size the variant cannot make is INVALID_ARGUMENT.
   */
  'width_px': (number);
  /**
   * The output height in pixels; the same rules as width_px. Set both or
   * neither.
   */
  'height_px': (number);
  /**
   * An aspect ratio "W:H" such as "16:9", used when width and height are 0;
   * the size is the largest with that ratio, the variant's multiple and at
   * most `megapixels`. Empty: square.
   */
  'aspect_ratio': (string);
  /**
   * The target size in megapixels with aspect_ratio, > 0 and at most the
   * variant's max_megapixels. 0: the variant's default area.
   */
  'megapixels': (number);
  /**
   * Denoising steps, 1 to the variant's max_steps. Unset: default_steps.
   */
  'steps'?: (number);
  /**
   * Embedded guidance scale, 0 to 20, for variants that support it. Unset:
   * the variant's default.
   */
  'guidance_scale'?: (number);
  /**
   * True classifier-free guidance scale, 1 to 20 (1 means off). Unset: the
   * variant's default.
   */
  'true_cfg_scale'?: (number);
  /**
   * Seed of the first image; image i uses seed + i. The same seed, parameters
   * and device give identical images. Unset: a random seed, echoed back.
   */
  'seed'?: (string);
  /**
   * Images to generate, 1 to the variant's max_image_count. 0 means 1.
   */
  'image_count': (number);
  /**
   * The output encoding. Default PNG.
   */
  'output_format': (_imaging_common_v1_ImageFormat__Output);
  /**
   * JPEG/WebP quality, 1 to 100. 0 means 90. Ignored for PNG.
   */
  'output_quality': (number);
  /**
   * Reference images (edits, subject or style references), at most the
   * variant's max_reference_images.
   */
  'reference_images': (_imaging_common_v1_Image__Output)[];
  /**
   * An inpainting mask the size of the first reference image: white is
   * repainted, black kept. Only where the variant supports_mask.
   */
  'mask': (_imaging_common_v1_Image__Output | null);
  /**
   * How far an img2img or inpaint call moves from the reference, in (0, 1].
   * Unset: 0.85 with a mask, else the reference is used as an edit input.
   */
  'strength'?: (number);
  /**
   * A LoRA adapter of the variant, by a name ListVariants lists for it; the
   * adapter applies to every image of the call. Empty: the base model. A name
   * the variant does not serve is INVALID_ARGUMENT.
   */
  'adapter': (string);
  '_steps'?: "steps";
  '_guidance_scale'?: "guidance_scale";
  '_true_cfg_scale'?: "true_cfg_scale";
  '_seed'?: "seed";
  '_strength'?: "strength";
}
