// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * Request of EmbedTexts.
 */
export interface EmbedTextsRequest {
  /**
   * The texts, 1 to 64 of them, each 1 to 512 characters.
   */
  'texts'?: (string)[];
}

/**
 * Request of EmbedTexts.
 */
export interface EmbedTextsRequest__Output {
  /**
   * The texts, 1 to 64 of them, each 1 to 512 characters.
   */
  'texts': (string)[];
}
