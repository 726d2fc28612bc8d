// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../../google/protobuf/Duration';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';

/**
 * Progress after one denoising step.
 */
export interface StepProgress {
  /**
   * The step just finished, 1-based.
   */
  'step'?: (number);
  /**
   * Steps in total.
   */
  'total_steps'?: (number);
  /**
   * Time since compute started.
   */
  'elapsed_duration'?: (_google_protobuf_Duration | null);
  /**
   * Estimated time until the result, from the mean step time so far.
   */
  'estimated_remaining_duration'?: (_google_protobuf_Duration | null);
  /**
   * A low-resolution preview of the first image, on preview steps only.
   */
  'preview'?: (_imaging_common_v1_Image | null);
}

/**
 * Progress after one denoising step.
 */
export interface StepProgress__Output {
  /**
   * The step just finished, 1-based.
   */
  'step': (number);
  /**
   * Steps in total.
   */
  'total_steps': (number);
  /**
   * Time since compute started.
   */
  'elapsed_duration': (_google_protobuf_Duration__Output | null);
  /**
   * Estimated time until the result, from the mean step time so far.
   */
  'estimated_remaining_duration': (_google_protobuf_Duration__Output | null);
  /**
   * A low-resolution preview of the first image, on preview steps only.
   */
  'preview': (_imaging_common_v1_Image__Output | null);
}
