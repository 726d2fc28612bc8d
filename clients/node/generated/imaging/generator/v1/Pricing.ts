// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { PricingModel as _imaging_generator_v1_PricingModel, PricingModel__Output as _imaging_generator_v1_PricingModel__Output } from '../../../imaging/generator/v1/PricingModel';
import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from '../../../imaging/common/v1/Cost';

/**
 * A variant's price list.
 */
export interface Pricing {
  /**
   * The pricing model; says which of the fields below apply.
   */
  'model'?: (_imaging_generator_v1_PricingModel);
  /**
   * The price of one image (flat pricing).
   */
  'per_image'?: (_imaging_common_v1_Cost | null);
  /**
   * The price of an image's first output megapixel (megapixel pricing).
   */
  'first_megapixel'?: (_imaging_common_v1_Cost | null);
  /**
   * The price per output megapixel beyond the first (megapixel pricing).
   */
  'per_extra_megapixel'?: (_imaging_common_v1_Cost | null);
  /**
   * The price per megapixel of reference images (megapixel pricing).
   */
  'per_input_megapixel'?: (_imaging_common_v1_Cost | null);
}

/**
 * A variant's price list.
 */
export interface Pricing__Output {
  /**
   * The pricing model; says which of the fields below apply.
   */
  'model': (_imaging_generator_v1_PricingModel__Output);
  /**
   * The price of one image (flat pricing).
   */
  'per_image': (_imaging_common_v1_Cost__Output | null);
  /**
   * The price of an image's first output megapixel (megapixel pricing).
   */
  'first_megapixel': (_imaging_common_v1_Cost__Output | null);
  /**
   * The price per output megapixel beyond the first (megapixel pricing).
   */
  'per_extra_megapixel': (_imaging_common_v1_Cost__Output | null);
  /**
   * The price per megapixel of reference images (megapixel pricing).
   */
  'per_input_megapixel': (_imaging_common_v1_Cost__Output | null);
}
