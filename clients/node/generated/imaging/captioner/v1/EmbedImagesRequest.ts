// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { ResizeMode as _imaging_captioner_v1_ResizeMode, ResizeMode__Output as _imaging_captioner_v1_ResizeMode__Output } from '../../../imaging/captioner/v1/ResizeMode';

/**
 * Request of EmbedImages.
 */
export interface EmbedImagesRequest {
  /**
   * The images, 1 to max_images_per_request.
   */
  'images'?: (_imaging_common_v1_Image)[];
  /**
   * How images are fitted to the model's input. Default stretch.
   */
  'resize_mode'?: (_imaging_captioner_v1_ResizeMode);
}

/**
 * Request of EmbedImages.
 */
export interface EmbedImagesRequest__Output {
  /**
   * The images, 1 to max_images_per_request.
   */
  'images': (_imaging_common_v1_Image__Output)[];
  /**
   * How images are fitted to the model's input. Default stretch.
   */
  'resize_mode': (_imaging_captioner_v1_ResizeMode__Output);
}
