// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from '../../../imaging/common/v1/Cost';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';

/**
 * Response of Quote: what Generate would make of the spec and what it would
 * cost. Generate with the same spec bills exactly `total_cost`.
 */
export interface QuoteResponse {
  /**
   * The variant that would generate the images.
   */
  'variant'?: (string);
  /**
   * Width of each image, in pixels, after the size rules and defaults.
   */
  'width_px'?: (number);
  /**
   * Height of each image, in pixels.
   */
  'height_px'?: (number);
  /**
   * Denoising steps that would run.
   */
  'steps'?: (number);
  /**
   * Images that would be generated.
   */
  'image_count'?: (number);
  /**
   * The price of each image.
   */
  'cost_per_image'?: (_imaging_common_v1_Cost | null);
  /**
   * What the call would consume, including the total cost.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Response of Quote: what Generate would make of the spec and what it would
 * cost. Generate with the same spec bills exactly `total_cost`.
 */
export interface QuoteResponse__Output {
  /**
   * The variant that would generate the images.
   */
  'variant': (string);
  /**
   * Width of each image, in pixels, after the size rules and defaults.
   */
  'width_px': (number);
  /**
   * Height of each image, in pixels.
   */
  'height_px': (number);
  /**
   * Denoising steps that would run.
   */
  'steps': (number);
  /**
   * Images that would be generated.
   */
  'image_count': (number);
  /**
   * The price of each image.
   */
  'cost_per_image': (_imaging_common_v1_Cost__Output | null);
  /**
   * What the call would consume, including the total cost.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
