// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { Variant as _imaging_generator_v1_Variant, Variant__Output as _imaging_generator_v1_Variant__Output } from '../../../imaging/generator/v1/Variant';

/**
 * Response of ListVariants.
 */
export interface ListVariantsResponse {
  /**
   * The served variants, sorted by name.
   */
  'variants'?: (_imaging_generator_v1_Variant)[];
}

/**
 * Response of ListVariants.
 */
export interface ListVariantsResponse__Output {
  /**
   * The served variants, sorted by name.
   */
  'variants': (_imaging_generator_v1_Variant__Output)[];
}
