// Original file: ../../protos/imaging/common/v1/common.proto

import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from '../../../imaging/common/v1/Cost';

/**
 * What one call consumed: the unit the gateway meters and bills.
 */
export interface Usage {
  /**
   * Images read (captioner) or written (generator) by the call. >= 0.
   */
  'image_count'?: (number);
  /**
   * Megapixels of output images (generator) or input images as decoded
   * (captioner), summed over the call. >= 0.
   */
  'megapixels'?: (number | string);
  /**
   * Megapixels of reference images the call read (generator). >= 0.
   */
  'input_megapixels'?: (number | string);
  /**
   * Tokens generated (captioner); 0 for the generator.
   */
  'token_count'?: (number);
  /**
   * The call's total cost: the sum of the per-image costs. Zero for free
   * methods (discovery, embeddings when unpriced).
   */
  'cost'?: (_imaging_common_v1_Cost | null);
}

/**
 * What one call consumed: the unit the gateway meters and bills.
 */
export interface Usage__Output {
  /**
   * Images read (captioner) or written (generator) by the call. >= 0.
   */
  'image_count': (number);
  /**
   * Megapixels of output images (generator) or input images as decoded
   * (captioner), summed over the call. >= 0.
   */
  'megapixels': (number);
  /**
   * Megapixels of reference images the call read (generator). >= 0.
   */
  'input_megapixels': (number);
  /**
   * Tokens generated (captioner); 0 for the generator.
   */
  'token_count': (number);
  /**
   * The call's total cost: the sum of the per-image costs. Zero for free
   * methods (discovery, embeddings when unpriced).
   */
  'cost': (_imaging_common_v1_Cost__Output | null);
}
