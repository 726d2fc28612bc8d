// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { GeneratedImage as _imaging_generator_v1_GeneratedImage, GeneratedImage__Output as _imaging_generator_v1_GeneratedImage__Output } from '../../../imaging/generator/v1/GeneratedImage';
import type { Timings as _imaging_generator_v1_Timings, Timings__Output as _imaging_generator_v1_Timings__Output } from '../../../imaging/generator/v1/Timings';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';
import type { Long } from '@grpc/proto-loader';

/**
 * Response of Generate.
 */
export interface GenerateResponse {
  /**
   * The images, image_count of them, in seed order.
   */
  'images'?: (_imaging_generator_v1_GeneratedImage)[];
  /**
   * The seed of the first image (the request's, or the random one chosen).
   */
  'seed'?: (number | string | Long);
  /**
   * The variant that generated the images.
   */
  'variant'?: (string);
  /**
   * Denoising steps run.
   */
  'steps'?: (number);
  /**
   * Where the time went.
   */
  'timings'?: (_imaging_generator_v1_Timings | null);
  /**
   * What the call consumed, including the total cost.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Response of Generate.
 */
export interface GenerateResponse__Output {
  /**
   * The images, image_count of them, in seed order.
   */
  'images': (_imaging_generator_v1_GeneratedImage__Output)[];
  /**
   * The seed of the first image (the request's, or the random one chosen).
   */
  'seed': (string);
  /**
   * The variant that generated the images.
   */
  'variant': (string);
  /**
   * Denoising steps run.
   */
  'steps': (number);
  /**
   * Where the time went.
   */
  'timings': (_imaging_generator_v1_Timings__Output | null);
  /**
   * What the call consumed, including the total cost.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
