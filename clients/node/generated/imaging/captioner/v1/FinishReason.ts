// Original file: ../../protos/imaging/captioner/v1/captioner.proto

/**
 * Why decoding of a caption stopped.
 */
export const FinishReason = {
  /**
   * Not set; never reported.
   */
  FINISH_REASON_UNSPECIFIED: 'FINISH_REASON_UNSPECIFIED',
  /**
   * The model emitted its end-of-sequence token.
   */
  FINISH_REASON_END_OF_SEQUENCE: 'FINISH_REASON_END_OF_SEQUENCE',
  /**
   * max_new_tokens was reached.
   */
  FINISH_REASON_LENGTH: 'FINISH_REASON_LENGTH',
  /**
   * A stop sequence was produced; it is not part of the text.
   */
  FINISH_REASON_STOP_SEQUENCE: 'FINISH_REASON_STOP_SEQUENCE',
} as const;

/**
 * Why decoding of a caption stopped.
 */
export type FinishReason =
  /**
   * Not set; never reported.
   */
  | 'FINISH_REASON_UNSPECIFIED'
  | 0
  /**
   * The model emitted its end-of-sequence token.
   */
  | 'FINISH_REASON_END_OF_SEQUENCE'
  | 1
  /**
   * max_new_tokens was reached.
   */
  | 'FINISH_REASON_LENGTH'
  | 2
  /**
   * A stop sequence was produced; it is not part of the text.
   */
  | 'FINISH_REASON_STOP_SEQUENCE'
  | 3

/**
 * Why decoding of a caption stopped.
 */
export type FinishReason__Output = typeof FinishReason[keyof typeof FinishReason]
