// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { TextMatch as _imaging_captioner_v1_TextMatch, TextMatch__Output as _imaging_captioner_v1_TextMatch__Output } from '../../../imaging/captioner/v1/TextMatch';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';

/**
 * Response of MatchImageText.
 */
export interface MatchImageTextResponse {
  /**
   * One result per request text, in request order.
   */
  'matches'?: (_imaging_captioner_v1_TextMatch)[];
  /**
   * What the call consumed.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Response of MatchImageText.
 */
export interface MatchImageTextResponse__Output {
  /**
   * One result per request text, in request order.
   */
  'matches': (_imaging_captioner_v1_TextMatch__Output)[];
  /**
   * What the call consumed.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
