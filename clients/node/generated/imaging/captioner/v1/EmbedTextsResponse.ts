// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Embedding as _imaging_captioner_v1_Embedding, Embedding__Output as _imaging_captioner_v1_Embedding__Output } from '../../../imaging/captioner/v1/Embedding';

/**
 * Response of EmbedTexts.
 */
export interface EmbedTextsResponse {
  /**
   * One embedding per request text, in request order.
   */
  'embeddings'?: (_imaging_captioner_v1_Embedding)[];
  /**
   * The length of every embedding.
   */
  'dimension'?: (number);
}

/**
 * Response of EmbedTexts.
 */
export interface EmbedTextsResponse__Output {
  /**
   * One embedding per request text, in request order.
   */
  'embeddings': (_imaging_captioner_v1_Embedding__Output)[];
  /**
   * The length of every embedding.
   */
  'dimension': (number);
}
