// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { FinishReason as _imaging_captioner_v1_FinishReason, FinishReason__Output as _imaging_captioner_v1_FinishReason__Output } from '../../../imaging/captioner/v1/FinishReason';

/**
 * One caption of one image.
 */
export interface Caption {
  /**
   * The caption text, prefix included, stop sequence excluded.
   */
  'text'?: (string);
  /**
   * Tokens generated for this caption, prefix excluded.
   */
  'token_count'?: (number);
  /**
   * Why decoding stopped.
   */
  'finish_reason'?: (_imaging_captioner_v1_FinishReason);
  /**
   * The mean log-probability per generated token (natural log, <= 0).
   */
  'mean_log_probability'?: (number | string);
}

/**
 * One caption of one image.
 */
export interface Caption__Output {
  /**
   * The caption text, prefix included, stop sequence excluded.
   */
  'text': (string);
  /**
   * Tokens generated for this caption, prefix excluded.
   */
  'token_count': (number);
  /**
   * Why decoding stopped.
   */
  'finish_reason': (_imaging_captioner_v1_FinishReason__Output);
  /**
   * The mean log-probability per generated token (natural log, <= 0).
   */
  'mean_log_probability': (number);
}
