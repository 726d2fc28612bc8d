// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { GenerationSpec as _imaging_generator_v1_GenerationSpec, GenerationSpec__Output as _imaging_generator_v1_GenerationSpec__Output } from '../../../imaging/generator/v1/GenerationSpec';

/**
 * Request of Generate.
 */
export interface GenerateRequest {
  /**
   * What to generate. Required.
   */
  'spec'?: (_imaging_generator_v1_GenerationSpec | null);
}

/**
 * Request of Generate.
 */
export interface GenerateRequest__Output {
  /**
   * What to generate. Required.
   */
  'spec': (_imaging_generator_v1_GenerationSpec__Output | null);
}
