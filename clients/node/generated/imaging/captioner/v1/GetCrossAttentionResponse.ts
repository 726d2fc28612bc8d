// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { TokenAttention as _imaging_captioner_v1_TokenAttention, TokenAttention__Output as _imaging_captioner_v1_TokenAttention__Output } from '../../../imaging/captioner/v1/TokenAttention';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';

/**
 * Response of GetCrossAttention.
 */
export interface GetCrossAttentionResponse {
  /**
   * The caption explained: the request's, or the generated one.
   */
  'caption'?: (string);
  /**
   * Rows of every map's grid.
   */
  'grid_height'?: (number);
  /**
   * Columns of every map's grid.
   */
  'grid_width'?: (number);
  /**
   * Decoder layers in the model.
   */
  'layer_count'?: (number);
  /**
   * Attention heads per decoder layer.
   */
  'head_count'?: (number);
  /**
   * One entry per caption token, in order.
   */
  'tokens'?: (_imaging_captioner_v1_TokenAttention)[];
  /**
   * What the call consumed.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Response of GetCrossAttention.
 */
export interface GetCrossAttentionResponse__Output {
  /**
   * The caption explained: the request's, or the generated one.
   */
  'caption': (string);
  /**
   * Rows of every map's grid.
   */
  'grid_height': (number);
  /**
   * Columns of every map's grid.
   */
  'grid_width': (number);
  /**
   * Decoder layers in the model.
   */
  'layer_count': (number);
  /**
   * Attention heads per decoder layer.
   */
  'head_count': (number);
  /**
   * One entry per caption token, in order.
   */
  'tokens': (_imaging_captioner_v1_TokenAttention__Output)[];
  /**
   * What the call consumed.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
