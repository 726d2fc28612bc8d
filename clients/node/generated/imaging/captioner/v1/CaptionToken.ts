// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * A token as decoded.
 */
export interface CaptionToken {
  /**
   * The vocabulary id of the token.
   */
  'id'?: (number);
  /**
   * The text this token adds to the caption, with any leading space.
   */
  'text'?: (string);
  /**
   * The 0-based position among the generated tokens.
   */
  'index'?: (number);
  /**
   * The natural-log probability of the token under the model (<= 0).
   */
  'log_probability'?: (number | string);
}

/**
 * A token as decoded.
 */
export interface CaptionToken__Output {
  /**
   * The vocabulary id of the token.
   */
  'id': (number);
  /**
   * The text this token adds to the caption, with any leading space.
   */
  'text': (string);
  /**
   * The 0-based position among the generated tokens.
   */
  'index': (number);
  /**
   * The natural-log probability of the token under the model (<= 0).
   */
  'log_probability': (number);
}
