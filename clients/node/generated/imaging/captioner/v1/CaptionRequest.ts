// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { DecodingOptions as _imaging_captioner_v1_DecodingOptions, DecodingOptions__Output as _imaging_captioner_v1_DecodingOptions__Output } from '../../../imaging/captioner/v1/DecodingOptions';
import type { ResizeMode as _imaging_captioner_v1_ResizeMode, ResizeMode__Output as _imaging_captioner_v1_ResizeMode__Output } from '../../../imaging/captioner/v1/ResizeMode';

/**
 * Request of Caption.
 */
export interface CaptionRequest {
  /**
   * The images to caption, 1 to max_images_per_request.
   */
  'images'?: (_imaging_common_v1_Image)[];
  /**
   * Decoding options, shared by all images of the request.
   */
  'decoding'?: (_imaging_captioner_v1_DecodingOptions | null);
  /**
   * Text the caption must start with (conditional captioning), at most 256
   * characters. Empty: unconditional. The prefix is part of the returned text.
   */
  'prefix'?: (string);
  /**
   * The name of a loaded LoRA adapter. Empty: the base model.
   */
  'adapter'?: (string);
  /**
   * How images are fitted to the model's input. Default stretch.
   */
  'resize_mode'?: (_imaging_captioner_v1_ResizeMode);
}

/**
 * Request of Caption.
 */
export interface CaptionRequest__Output {
  /**
   * The images to caption, 1 to max_images_per_request.
   */
  'images': (_imaging_common_v1_Image__Output)[];
  /**
   * Decoding options, shared by all images of the request.
   */
  'decoding': (_imaging_captioner_v1_DecodingOptions__Output | null);
  /**
   * Text the caption must start with (conditional captioning), at most 256
   * characters. Empty: unconditional. The prefix is part of the returned text.
   */
  'prefix': (string);
  /**
   * The name of a loaded LoRA adapter. Empty: the base model.
   */
  'adapter': (string);
  /**
   * How images are fitted to the model's input. Default stretch.
   */
  'resize_mode': (_imaging_captioner_v1_ResizeMode__Output);
}
