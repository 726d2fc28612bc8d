// Original file: ../../protos/imaging/captioner/v1/captioner.proto

/**
 * How an image is fitted to the model's square input.
 */
export const ResizeMode = {
  /**
   * Not set: RESIZE_MODE_STRETCH, BLIP's own preprocessing.
   */
  RESIZE_MODE_UNSPECIFIED: 'RESIZE_MODE_UNSPECIFIED',
  /**
   * Resizes to the input size, ignoring the aspect ratio.
   */
  RESIZE_MODE_STRETCH: 'RESIZE_MODE_STRETCH',
  /**
   * Scales the short side to the input size and crops the centre.
   */
  RESIZE_MODE_CENTER_CROP: 'RESIZE_MODE_CENTER_CROP',
  /**
   * Scales the long side to the input size and pads with white.
   */
  RESIZE_MODE_LETTERBOX: 'RESIZE_MODE_LETTERBOX',
} as const;

/**
 * How an image is fitted to the model's square input.
 */
export type ResizeMode =
  /**
   * Not set: RESIZE_MODE_STRETCH, BLIP's own preprocessing.
   */
  | 'RESIZE_MODE_UNSPECIFIED'
  | 0
  /**
   * Resizes to the input size, ignoring the aspect ratio.
   */
  | 'RESIZE_MODE_STRETCH'
  | 1
  /**
   * Scales the short side to the input size and crops the centre.
   */
  | 'RESIZE_MODE_CENTER_CROP'
  | 2
  /**
   * Scales the long side to the input size and pads with white.
   */
  | 'RESIZE_MODE_LETTERBOX'
  | 3

/**
 * How an image is fitted to the model's square input.
 */
export type ResizeMode__Output = typeof ResizeMode[keyof typeof ResizeMode]
