// Original file: ../../protos/imaging/common/v1/common.proto


/**
 * An encoded image travelling as raw bytes, never base64 inside a string.
 */
export interface Image {
  /**
   * The encoded file: PNG, JPEG, WebP, BMP or GIF (first frame). At most the
   * server's max_image_bytes (see each service's discovery RPC). Required.
   */
  'data'?: (Buffer | Uint8Array | string);
  /**
   * The IANA media type of `data`, for example "image/png". Empty means the
   * server sniffs the format from the bytes; a stated type that disagrees with
   * the bytes is INVALID_ARGUMENT.
   */
  'media_type'?: (string);
}

/**
 * An encoded image travelling as raw bytes, never base64 inside a string.
 */
export interface Image__Output {
  /**
   * The encoded file: PNG, JPEG, WebP, BMP or GIF (first frame). At most the
   * server's max_image_bytes (see each service's discovery RPC). Required.
   */
  'data': (Buffer);
  /**
   * The IANA media type of `data`, for example "image/png". Empty means the
   * server sniffs the format from the bytes; a stated type that disagrees with
   * the bytes is INVALID_ARGUMENT.
   */
  'media_type': (string);
}
