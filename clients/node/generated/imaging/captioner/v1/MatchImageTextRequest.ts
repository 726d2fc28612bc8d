// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { ResizeMode as _imaging_captioner_v1_ResizeMode, ResizeMode__Output as _imaging_captioner_v1_ResizeMode__Output } from '../../../imaging/captioner/v1/ResizeMode';

/**
 * Request of MatchImageText.
 */
export interface MatchImageTextRequest {
  /**
   * The image. Required.
   */
  'image'?: (_imaging_common_v1_Image | null);
  /**
   * Candidate descriptions, 1 to 64, each 1 to 512 characters.
   */
  'texts'?: (string)[];
  /**
   * How the image is fitted to the model's input. Default stretch.
   */
  'resize_mode'?: (_imaging_captioner_v1_ResizeMode);
}

/**
 * Request of MatchImageText.
 */
export interface MatchImageTextRequest__Output {
  /**
   * The image. Required.
   */
  'image': (_imaging_common_v1_Image__Output | null);
  /**
   * Candidate descriptions, 1 to 64, each 1 to 512 characters.
   */
  'texts': (string)[];
  /**
   * How the image is fitted to the model's input. Default stretch.
   */
  'resize_mode': (_imaging_captioner_v1_ResizeMode__Output);
}
