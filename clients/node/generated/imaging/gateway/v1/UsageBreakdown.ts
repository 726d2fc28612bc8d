// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';

/**
 * Usage of one method and model in a period.
 */
export interface UsageBreakdown {
  /**
   * The full method, for example "/imaging.generator.v1.GeneratorService/Generate".
   */
  'method'?: (string);
  /**
   * The variant or model; empty for the captioner's methods.
   */
  'model'?: (string);
  /**
   * What the calls consumed.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
}

/**
 * Usage of one method and model in a period.
 */
export interface UsageBreakdown__Output {
  /**
   * The full method, for example "/imaging.generator.v1.GeneratorService/Generate".
   */
  'method': (string);
  /**
   * The variant or model; empty for the captioner's methods.
   */
  'model': (string);
  /**
   * What the calls consumed.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
}
