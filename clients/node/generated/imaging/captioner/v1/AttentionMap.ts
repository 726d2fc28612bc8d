// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * One attention map over the patch grid.
 */
export interface AttentionMap {
  /**
   * The 0-based decoder layer.
   */
  'layer'?: (number);
  /**
   * The 0-based head; unset when the map is the mean over heads.
   */
  'head'?: (number);
  /**
   * Attention weights over the patches, row-major, grid_height x grid_width
   * values; the vision CLS token is dropped, so they sum to at most 1.
   */
  'weights'?: (number | string)[];
  '_head'?: "head";
}

/**
 * One attention map over the patch grid.
 */
export interface AttentionMap__Output {
  /**
   * The 0-based decoder layer.
   */
  'layer': (number);
  /**
   * The 0-based head; unset when the map is the mean over heads.
   */
  'head'?: (number);
  /**
   * Attention weights over the patches, row-major, grid_height x grid_width
   * values; the vision CLS token is dropped, so they sum to at most 1.
   */
  'weights': (number)[];
  '_head'?: "head";
}
