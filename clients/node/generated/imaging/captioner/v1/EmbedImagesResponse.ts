// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Embedding as _imaging_captioner_v1_Embedding, Embedding__Output as _imaging_captioner_v1_Embedding__Output } from '../../../imaging/captioner/v1/Embedding';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';

/**
 * Response of EmbedImages.
 */
export interface EmbedImagesResponse {
  /**
   * One embedding per request image, in request order.
   */
  'embeddings'?: (_imaging_captioner_v1_Embedding)[];
  /**
   * The length of every embedding.
   */
  'dimension'?: (number);
  /**
   * What the call consumed.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Response of EmbedImages.
 */
export interface EmbedImagesResponse__Output {
  /**
   * One embedding per request image, in request order.
   */
  'embeddings': (_imaging_captioner_v1_Embedding__Output)[];
  /**
   * The length of every embedding.
   */
  'dimension': (number);
  /**
   * What the call consumed.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
