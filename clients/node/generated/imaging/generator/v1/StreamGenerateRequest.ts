// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { GenerationSpec as _imaging_generator_v1_GenerationSpec, GenerationSpec__Output as _imaging_generator_v1_GenerationSpec__Output } from '../../../imaging/generator/v1/GenerationSpec';

/**
 * Request of StreamGenerate.
 */
export interface StreamGenerateRequest {
  /**
   * What to generate. Required.
   */
  'spec'?: (_imaging_generator_v1_GenerationSpec | null);
  /**
   * Sends a low-resolution preview every this many steps, >= 0. 0: none.
   */
  'preview_every_steps'?: (number);
}

/**
 * Request of StreamGenerate.
 */
export interface StreamGenerateRequest__Output {
  /**
   * What to generate. Required.
   */
  'spec': (_imaging_generator_v1_GenerationSpec__Output | null);
  /**
   * Sends a low-resolution preview every this many steps, >= 0. 0: none.
   */
  'preview_every_steps': (number);
}
