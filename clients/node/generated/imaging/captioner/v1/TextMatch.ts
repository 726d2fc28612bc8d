// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * How well one text describes the image.
 */
export interface TextMatch {
  /**
   * The candidate text, as sent.
   */
  'text'?: (string);
  /**
   * The image-text matching head's probability that the text describes the
   * image, in [0, 1].
   */
  'match_probability'?: (number | string);
  /**
   * Cosine similarity of the image and text embeddings, in [-1, 1].
   */
  'similarity'?: (number | string);
}

/**
 * How well one text describes the image.
 */
export interface TextMatch__Output {
  /**
   * The candidate text, as sent.
   */
  'text': (string);
  /**
   * The image-text matching head's probability that the text describes the
   * image, in [0, 1].
   */
  'match_probability': (number);
  /**
   * Cosine similarity of the image and text embeddings, in [-1, 1].
   */
  'similarity': (number);
}
