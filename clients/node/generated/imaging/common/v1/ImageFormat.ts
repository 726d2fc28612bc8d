// Original file: ../../protos/imaging/common/v1/common.proto

/**
 * An encoding for images that a server returns.
 */
export const ImageFormat = {
  /**
   * Not set: the server's default, PNG.
   */
  IMAGE_FORMAT_UNSPECIFIED: 'IMAGE_FORMAT_UNSPECIFIED',
  /**
   * Lossless PNG ("image/png"), with generation parameters in text chunks.
   */
  IMAGE_FORMAT_PNG: 'IMAGE_FORMAT_PNG',
  /**
   * JPEG ("image/jpeg") at the requested quality.
   */
  IMAGE_FORMAT_JPEG: 'IMAGE_FORMAT_JPEG',
  /**
   * WebP ("image/webp") at the requested quality.
   */
  IMAGE_FORMAT_WEBP: 'IMAGE_FORMAT_WEBP',
} as const;

/**
 * An encoding for images that a server returns.
 */
export type ImageFormat =
  /**
   * Not set: the server's default, PNG.
   */
  | 'IMAGE_FORMAT_UNSPECIFIED'
  | 0
  /**
   * Lossless PNG ("image/png"), with generation parameters in text chunks.
   */
  | 'IMAGE_FORMAT_PNG'
  | 1
  /**
   * JPEG ("image/jpeg") at the requested quality.
   */
  | 'IMAGE_FORMAT_JPEG'
  | 2
  /**
   * WebP ("image/webp") at the requested quality.
   */
  | 'IMAGE_FORMAT_WEBP'
  | 3

/**
 * An encoding for images that a server returns.
 */
export type ImageFormat__Output = typeof ImageFormat[keyof typeof ImageFormat]
