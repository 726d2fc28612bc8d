// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Quota as _imaging_gateway_v1_Quota, Quota__Output as _imaging_gateway_v1_Quota__Output } from '../../../imaging/gateway/v1/Quota';

/**
 * Request of SetQuota.
 */
export interface SetQuotaRequest {
  /**
   * The key whose limits change. Required.
   */
  'key_id'?: (string);
  /**
   * The new limits, replacing the old ones whole. Required.
   */
  'quota'?: (_imaging_gateway_v1_Quota | null);
}

/**
 * Request of SetQuota.
 */
export interface SetQuotaRequest__Output {
  /**
   * The key whose limits change. Required.
   */
  'key_id': (string);
  /**
   * The new limits, replacing the old ones whole. Required.
   */
  'quota': (_imaging_gateway_v1_Quota__Output | null);
}
