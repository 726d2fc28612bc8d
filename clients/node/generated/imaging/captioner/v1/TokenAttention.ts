// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { AttentionMap as _imaging_captioner_v1_AttentionMap, AttentionMap__Output as _imaging_captioner_v1_AttentionMap__Output } from '../../../imaging/captioner/v1/AttentionMap';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';

/**
 * The attention behind one token of the caption.
 */
export interface TokenAttention {
  /**
   * The 0-based position in the caption's tokens.
   */
  'index'?: (number);
  /**
   * The vocabulary id of the token.
   */
  'token_id'?: (number);
  /**
   * The token's text.
   */
  'text'?: (string);
  /**
   * One map per requested layer (and head, without reduction).
   */
  'maps'?: (_imaging_captioner_v1_AttentionMap)[];
  /**
   * The heatmap PNG, when render_heatmaps was set.
   */
  'heatmap'?: (_imaging_common_v1_Image | null);
}

/**
 * The attention behind one token of the caption.
 */
export interface TokenAttention__Output {
  /**
   * The 0-based position in the caption's tokens.
   */
  'index': (number);
  /**
   * The vocabulary id of the token.
   */
  'token_id': (number);
  /**
   * The token's text.
   */
  'text': (string);
  /**
   * One map per requested layer (and head, without reduction).
   */
  'maps': (_imaging_captioner_v1_AttentionMap__Output)[];
  /**
   * The heatmap PNG, when render_heatmaps was set.
   */
  'heatmap': (_imaging_common_v1_Image__Output | null);
}
