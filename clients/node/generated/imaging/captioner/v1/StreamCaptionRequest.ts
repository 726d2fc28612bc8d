// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { DecodingOptions as _imaging_captioner_v1_DecodingOptions, DecodingOptions__Output as _imaging_captioner_v1_DecodingOptions__Output } from '../../../imaging/captioner/v1/DecodingOptions';
import type { ResizeMode as _imaging_captioner_v1_ResizeMode, ResizeMode__Output as _imaging_captioner_v1_ResizeMode__Output } from '../../../imaging/captioner/v1/ResizeMode';

/**
 * Request of StreamCaption.
 */
export interface StreamCaptionRequest {
  /**
   * The image to caption. Required.
   */
  'image'?: (_imaging_common_v1_Image | null);
  /**
   * Decoding options. With beam search the best beam's tokens are sent
   * together once decoding ends, since a beam's prefix is not final earlier.
   */
  'decoding'?: (_imaging_captioner_v1_DecodingOptions | null);
  /**
   * Text the caption must start with; it arrives at the start of the first
   * token event's text.
   */
  'prefix'?: (string);
  /**
   * The name of a loaded LoRA adapter. Empty: the base model.
   */
  'adapter'?: (string);
  /**
   * How the image is fitted to the model's input. Default stretch.
   */
  'resize_mode'?: (_imaging_captioner_v1_ResizeMode);
}

/**
 * Request of StreamCaption.
 */
export interface StreamCaptionRequest__Output {
  /**
   * The image to caption. Required.
   */
  'image': (_imaging_common_v1_Image__Output | null);
  /**
   * Decoding options. With beam search the best beam's tokens are sent
   * together once decoding ends, since a beam's prefix is not final earlier.
   */
  'decoding': (_imaging_captioner_v1_DecodingOptions__Output | null);
  /**
   * Text the caption must start with; it arrives at the start of the first
   * token event's text.
   */
  'prefix': (string);
  /**
   * The name of a loaded LoRA adapter. Empty: the base model.
   */
  'adapter': (string);
  /**
   * How the image is fitted to the model's input. Default stretch.
   */
  'resize_mode': (_imaging_captioner_v1_ResizeMode__Output);
}
