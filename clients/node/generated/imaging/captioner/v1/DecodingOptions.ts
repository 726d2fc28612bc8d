// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { DecodingStrategy as _imaging_captioner_v1_DecodingStrategy, DecodingStrategy__Output as _imaging_captioner_v1_DecodingStrategy__Output } from '../../../imaging/captioner/v1/DecodingStrategy';
import type { Long } from '@grpc/proto-loader';

/**
 * Options that control caption decoding. Zero values mean the defaults stated.
 */
export interface DecodingOptions {
  /**
   * The decoding strategy. Default greedy.
   */
  'strategy'?: (_imaging_captioner_v1_DecodingStrategy);
  /**
   * Beams for beam search, 1 to 10. Default 3 with beam search; must be unset
   * or 1 otherwise.
   */
  'beam_count'?: (number);
  /**
   * Sampling temperature, > 0 and <= 5. Default 1.0. Sampling only.
   */
  'temperature'?: (number | string);
  /**
   * Keeps the k most probable tokens when sampling, >= 0. Default 0 (off).
   */
  'top_k'?: (number);
  /**
   * Nucleus sampling mass, in (0, 1]. Default 1.0 (off).
   */
  'top_p'?: (number | string);
  /**
   * Penalty for repeated tokens, in [1, 5]. Default 1.0 (none).
   */
  'repetition_penalty'?: (number | string);
  /**
   * Beam search length penalty exponent, in [-5, 5]. Default 1.0.
   */
  'length_penalty'?: (number | string);
  /**
   * Tokens to generate at least, >= 0 and <= max_new_tokens. Default 0.
   */
  'min_new_tokens'?: (number);
  /**
   * Tokens to generate at most, 1 to the model's max_new_tokens_limit.
   * Default: the server's configured default (see GetModelInfo).
   */
  'max_new_tokens'?: (number);
  /**
   * Beam search stops when `beam_count` finished candidates exist. Default false.
   */
  'early_stopping'?: (boolean);
  /**
   * Texts that end a caption when produced; not included in the result. At
   * most 4, each 1 to 64 characters.
   */
  'stop_sequences'?: (string)[];
  /**
   * Seed for sampling; image i of a request uses seed + i. The same seed,
   * image and options give the same caption on the same device, batched or
   * not. Unset: a random seed, echoed back in the response.
   */
  'seed'?: (number | string | Long);
  '_seed'?: "seed";
}

/**
 * Options that control caption decoding. Zero values mean the defaults stated.
 */
export interface DecodingOptions__Output {
  /**
   * The decoding strategy. Default greedy.
   */
  'strategy': (_imaging_captioner_v1_DecodingStrategy__Output);
  /**
   * Beams for beam search, 1 to 10. Default 3 with beam search; must be unset
   * or 1 otherwise.
   */
  'beam_count': (number);
  /**
   * Sampling temperature, > 0 and <= 5. Default 1.0. Sampling only.
   */
  'temperature': (number);
  /**
   * Keeps the k most probable tokens when sampling, >= 0. Default 0 (off).
   */
  'top_k': (number);
  /**
   * Nucleus sampling mass, in (0, 1]. Default 1.0 (off).
   */
  'top_p': (number);
  /**
   * Penalty for repeated tokens, in [1, 5]. Default 1.0 (none).
   */
  'repetition_penalty': (number);
  /**
   * Beam search length penalty exponent, in [-5, 5]. Default 1.0.
   */
  'length_penalty': (number);
  /**
   * Tokens to generate at least, >= 0 and <= max_new_tokens. Default 0.
   */
  'min_new_tokens': (number);
  /**
   * Tokens to generate at most, 1 to the model's max_new_tokens_limit.
   * Default: the server's configured default (see GetModelInfo).
   */
  'max_new_tokens': (number);
  /**
   * Beam search stops when `beam_count` finished candidates exist. Default false.
   */
  'early_stopping': (boolean);
  /**
   * Texts that end a caption when produced; not included in the result. At
   * most 4, each 1 to 64 characters.
   */
  'stop_sequences': (string)[];
  /**
   * Seed for sampling; image i of a request uses seed + i. The same seed,
   * image and options give the same caption on the same device, batched or
   * not. Unset: a random seed, echoed back in the response.
   */
  'seed'?: (string);
  '_seed'?: "seed";
}
