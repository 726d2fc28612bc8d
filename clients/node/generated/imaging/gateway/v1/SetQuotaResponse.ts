// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from '../../../imaging/gateway/v1/ApiKey';

/**
 * Response of SetQuota.
 */
export interface SetQuotaResponse {
  /**
   * The key with its new limits.
   */
  'key'?: (_imaging_gateway_v1_ApiKey | null);
}

/**
 * Response of SetQuota.
 */
export interface SetQuotaResponse__Output {
  /**
   * The key with its new limits.
   */
  'key': (_imaging_gateway_v1_ApiKey__Output | null);
}
