// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * A vector in the shared image-text space.
 */
export interface Embedding {
  /**
   * The components; unit L2 norm; length is the response's dimension.
   */
  'values'?: (number | string)[];
}

/**
 * A vector in the shared image-text space.
 */
export interface Embedding__Output {
  /**
   * The components; unit L2 norm; length is the response's dimension.
   */
  'values': (number)[];
}
