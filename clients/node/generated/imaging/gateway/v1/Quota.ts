// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from '../../../imaging/common/v1/Cost';
import type { Long } from '@grpc/proto-loader';

/**
 * Limits attached to a key. A zero limit means unlimited.
 */
export interface Quota {
  /**
   * The plan's name, for example "free" or "pro". Informational.
   */
  'plan'?: (string);
  /**
   * Calls per minute across all methods (token bucket), >= 0.
   */
  'requests_per_minute'?: (number);
  /**
   * Billed images per calendar month (UTC), >= 0.
   */
  'images_per_month'?: (number | string | Long);
  /**
   * Spend per calendar month (UTC). Unset or zero: unlimited.
   */
  'spend_per_month'?: (_imaging_common_v1_Cost | null);
  /**
   * Generator variants the key may use, for example "flux.1-schnell". Empty:
   * every variant.
   */
  'allowed_variants'?: (string)[];
}

/**
 * Limits attached to a key. A zero limit means unlimited.
 */
export interface Quota__Output {
  /**
   * The plan's name, for example "free" or "pro". Informational.
   */
  'plan': (string);
  /**
   * Calls per minute across all methods (token bucket), >= 0.
   */
  'requests_per_minute': (number);
  /**
   * Billed images per calendar month (UTC), >= 0.
   */
  'images_per_month': (string);
  /**
   * Spend per calendar month (UTC). Unset or zero: unlimited.
   */
  'spend_per_month': (_imaging_common_v1_Cost__Output | null);
  /**
   * Generator variants the key may use, for example "flux.1-schnell". Empty:
   * every variant.
   */
  'allowed_variants': (string)[];
}
