// Original file: ../../protos/imaging/generator/v1/generator.proto

import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from '../../../imaging/common/v1/Image';
import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from '../../../imaging/common/v1/Cost';
import type { Long } from '@grpc/proto-loader';

/**
 * One generated image.
 */
export interface GeneratedImage {
  /**
   * The encoded image.
   */
  'image'?: (_imaging_common_v1_Image | null);
  /**
   * The seed that produced this image.
   */
  'seed'?: (number | string | Long);
  /**
   * Width of the image, in pixels.
   */
  'width_px'?: (number);
  /**
   * Height of the image, in pixels.
   */
  'height_px'?: (number);
  /**
   * The price of this image under the variant's pricing.
   */
  'cost'?: (_imaging_common_v1_Cost | null);
}

/**
 * One generated image.
 */
export interface GeneratedImage__Output {
  /**
   * The encoded image.
   */
  'image': (_imaging_common_v1_Image__Output | null);
  /**
   * The seed that produced this image.
   */
  'seed': (string);
  /**
   * Width of the image, in pixels.
   */
  'width_px': (number);
  /**
   * Height of the image, in pixels.
   */
  'height_px': (number);
  /**
   * The price of this image under the variant's pricing.
   */
  'cost': (_imaging_common_v1_Cost__Output | null);
}
