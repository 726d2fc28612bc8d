// Original file: ../../protos/imaging/captioner/v1/captioner.proto

/**
 * How tokens are chosen while decoding.
 */
export const DecodingStrategy = {
  /**
   * Not set: DECODING_STRATEGY_GREEDY.
   */
  DECODING_STRATEGY_UNSPECIFIED: 'DECODING_STRATEGY_UNSPECIFIED',
  /**
   * Takes the most probable token at every step. Deterministic.
   */
  DECODING_STRATEGY_GREEDY: 'DECODING_STRATEGY_GREEDY',
  /**
   * Keeps the `beam_count` best sequences. Deterministic.
   */
  DECODING_STRATEGY_BEAM_SEARCH: 'DECODING_STRATEGY_BEAM_SEARCH',
  /**
   * Samples with temperature, top-k and top-p; reproducible with a seed.
   */
  DECODING_STRATEGY_SAMPLING: 'DECODING_STRATEGY_SAMPLING',
} as const;

/**
 * How tokens are chosen while decoding.
 */
export type DecodingStrategy =
  /**
   * Not set: DECODING_STRATEGY_GREEDY.
   */
  | 'DECODING_STRATEGY_UNSPECIFIED'
  | 0
  /**
   * Takes the most probable token at every step. Deterministic.
   */
  | 'DECODING_STRATEGY_GREEDY'
  | 1
  /**
   * Keeps the `beam_count` best sequences. Deterministic.
   */
  | 'DECODING_STRATEGY_BEAM_SEARCH'
  | 2
  /**
   * Samples with temperature, top-k and top-p; reproducible with a seed.
   */
  | 'DECODING_STRATEGY_SAMPLING'
  | 3

/**
 * How tokens are chosen while decoding.
 */
export type DecodingStrategy__Output = typeof DecodingStrategy[keyof typeof DecodingStrategy]
