// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { CaptionToken as _imaging_captioner_v1_CaptionToken, CaptionToken__Output as _imaging_captioner_v1_CaptionToken__Output } from '../../../imaging/captioner/v1/CaptionToken';
import type { Caption as _imaging_captioner_v1_Caption, Caption__Output as _imaging_captioner_v1_Caption__Output } from '../../../imaging/captioner/v1/Caption';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';
import type { Long } from '@grpc/proto-loader';

/**
 * Response of StreamCaption: token events, then exactly one final caption.
 */
export interface StreamCaptionResponse {
  /**
   * A newly decoded token.
   */
  'token'?: (_imaging_captioner_v1_CaptionToken | null);
  /**
   * The finished caption; the last message of the stream.
   */
  'caption'?: (_imaging_captioner_v1_Caption | null);
  /**
   * The sampling seed used; set on the final message only.
   */
  'seed'?: (number | string | Long);
  /**
   * What the call consumed; set on the final message only.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
  /**
   * The event.
   */
  'event'?: "token"|"caption";
}

/**
 * Response of StreamCaption: token events, then exactly one final caption.
 */
export interface StreamCaptionResponse__Output {
  /**
   * A newly decoded token.
   */
  'token'?: (_imaging_captioner_v1_CaptionToken__Output | null);
  /**
   * The finished caption; the last message of the stream.
   */
  'caption'?: (_imaging_captioner_v1_Caption__Output | null);
  /**
   * The sampling seed used; set on the final message only.
   */
  'seed': (string);
  /**
   * What the call consumed; set on the final message only.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
  /**
   * The event.
   */
  'event'?: "token"|"caption";
}
