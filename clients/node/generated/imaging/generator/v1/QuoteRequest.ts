// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { GenerationSpec as _imaging_generator_v1_GenerationSpec, GenerationSpec__Output as _imaging_generator_v1_GenerationSpec__Output } from '../../../imaging/generator/v1/GenerationSpec';

/**
 * Request of Quote.
 */
export interface QuoteRequest {
  /**
   * What would be generated; validated exactly as Generate validates it
   * (reference images and mask included). Required.
   */
  'spec'?: (_imaging_generator_v1_GenerationSpec | null);
}

/**
 * Request of Quote.
 */
export interface QuoteRequest__Output {
  /**
   * What would be generated; validated exactly as Generate validates it
   * (reference images and mask included). Required.
   */
  'spec': (_imaging_generator_v1_GenerationSpec__Output | null);
}
