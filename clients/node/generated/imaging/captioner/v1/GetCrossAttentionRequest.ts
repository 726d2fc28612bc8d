// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { DecodingOptions as _imaging_captioner_v1_DecodingOptions, DecodingOptions__Output as _imaging_captioner_v1_DecodingOptions__Output } from '../../../imaging/captioner/v1/DecodingOptions';
import type { HeadReduction as _imaging_captioner_v1_HeadReduction, HeadReduction__Output as _imaging_captioner_v1_HeadReduction__Output } from '../../../imaging/captioner/v1/HeadReduction';
import type { ResizeMode as _imaging_captioner_v1_ResizeMode, ResizeMode__Output as _imaging_captioner_v1_ResizeMode__Output } from '../../../imaging/captioner/v1/ResizeMode';

/**
 * Request of GetCrossAttention.
 */
export interface GetCrossAttentionRequest {
  /**
   * The image. Required.
   */
  'image'?: (_imaging_common_v1_Image | null);
  /**
   * The caption to explain. Empty: the server generates one greedily with
   * `decoding` and explains that.
   */
  'caption'?: (string);
  /**
   * Decoding options used when `caption` is empty.
   */
  'decoding'?: (_imaging_captioner_v1_DecodingOptions | null);
  /**
   * How heads are combined. Default mean.
   */
  'head_reduction'?: (_imaging_captioner_v1_HeadReduction);
  /**
   * Decoder layers to return, 0-based. Empty: all layers.
   */
  'layers'?: (number)[];
  /**
   * Also returns, per token, a PNG heatmap of the layer-mean map over the
   * image. Default false.
   */
  'render_heatmaps'?: (boolean);
  /**
   * How the image is fitted to the model's input. Default stretch.
   */
  'resize_mode'?: (_imaging_captioner_v1_ResizeMode);
}

/**
 * Request of GetCrossAttention.
 */
export interface GetCrossAttentionRequest__Output {
  /**
   * The image. Required.
   */
  'image': (_imaging_common_v1_Image__Output | null);
  /**
   * The caption to explain. Empty: the server generates one greedily with
   * `decoding` and explains that.
   */
  'caption': (string);
  /**
   * Decoding options used when `caption` is empty.
   */
  'decoding': (_imaging_captioner_v1_DecodingOptions__Output | null);
  /**
   * How heads are combined. Default mean.
   */
  'head_reduction': (_imaging_captioner_v1_HeadReduction__Output);
  /**
   * Decoder layers to return, 0-based. Empty: all layers.
   */
  'layers': (number)[];
  /**
   * Also returns, per token, a PNG heatmap of the layer-mean map over the
   * image. Default false.
   */
  'render_heatmaps': (boolean);
  /**
   * How the image is fitted to the model's input. Default stretch.
   */
  'resize_mode': (_imaging_captioner_v1_ResizeMode__Output);
}
