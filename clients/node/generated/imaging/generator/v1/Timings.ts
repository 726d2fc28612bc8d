// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../../google/protobuf/Duration';

/**
 * Where the time of a call went.
 */
export interface Timings {
  /**
   * Time spent waiting in the queue before compute started.
   */
  'queue_duration'?: (_google_protobuf_Duration | null);
  /**
   * Time spent encoding the prompt and reference images.
   */
  'encode_duration'?: (_google_protobuf_Duration | null);
  /**
   * Time spent denoising.
   */
  'denoise_duration'?: (_google_protobuf_Duration | null);
  /**
   * Time spent decoding latents and encoding image files.
   */
  'decode_duration'?: (_google_protobuf_Duration | null);
  /**
   * Time from the call's arrival to its result.
   */
  'total_duration'?: (_google_protobuf_Duration | null);
}

/**
 * Where the time of a call went.
 */
export interface Timings__Output {
  /**
   * Time spent waiting in the queue before compute started.
   */
  'queue_duration': (_google_protobuf_Duration__Output | null);
  /**
   * Time spent encoding the prompt and reference images.
   */
  'encode_duration': (_google_protobuf_Duration__Output | null);
  /**
   * Time spent denoising.
   */
  'denoise_duration': (_google_protobuf_Duration__Output | null);
  /**
   * Time spent decoding latents and encoding image files.
   */
  'decode_duration': (_google_protobuf_Duration__Output | null);
  /**
   * Time from the call's arrival to its result.
   */
  'total_duration': (_google_protobuf_Duration__Output | null);
}
