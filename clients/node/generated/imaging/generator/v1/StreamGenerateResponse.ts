// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { StepProgress as _imaging_generator_v1_StepProgress, StepProgress__Output as _imaging_generator_v1_StepProgress__Output } from '../../../imaging/generator/v1/StepProgress';
import type { GenerateResponse as _imaging_generator_v1_GenerateResponse, GenerateResponse__Output as _imaging_generator_v1_GenerateResponse__Output } from '../../../imaging/generator/v1/GenerateResponse';

/**
 * Response of StreamGenerate: progress events, then exactly one result.
 */
export interface StreamGenerateResponse {
  /**
   * Progress after a denoising step.
   */
  'progress'?: (_imaging_generator_v1_StepProgress | null);
  /**
   * The finished images; the last message of the stream.
   */
  'result'?: (_imaging_generator_v1_GenerateResponse | null);
  /**
   * The event.
   */
  'event'?: "progress"|"result";
}

/**
 * Response of StreamGenerate: progress events, then exactly one result.
 */
export interface StreamGenerateResponse__Output {
  /**
   * Progress after a denoising step.
   */
  'progress'?: (_imaging_generator_v1_StepProgress__Output | null);
  /**
   * The finished images; the last message of the stream.
   */
  'result'?: (_imaging_generator_v1_GenerateResponse__Output | null);
  /**
   * The event.
   */
  'event'?: "progress"|"result";
}
