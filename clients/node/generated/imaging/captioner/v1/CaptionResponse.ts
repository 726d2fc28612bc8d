// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Caption as _imaging_captioner_v1_Caption, Caption__Output as _imaging_captioner_v1_Caption__Output } from '../../../imaging/captioner/v1/Caption';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';
import type { Long } from '@grpc/proto-loader';

/**
 * Response of Caption.
 */
export interface CaptionResponse {
  /**
   * One caption per request image, in request order.
   */
  'captions'?: (_imaging_captioner_v1_Caption)[];
  /**
   * The sampling seed used (the request's, or the random one chosen).
   */
  'seed'?: (number | string | Long);
  /**
   * What the call consumed.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Response of Caption.
 */
export interface CaptionResponse__Output {
  /**
   * One caption per request image, in request order.
   */
  'captions': (_imaging_captioner_v1_Caption__Output)[];
  /**
   * The sampling seed used (the request's, or the random one chosen).
   */
  'seed': (string);
  /**
   * What the call consumed.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
