// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from '../../../imaging/gateway/v1/ApiKey';

/**
 * Response of RevokeApiKey.
 */
export interface RevokeApiKeyResponse {
  /**
   * The key as revoked.
   */
  'key'?: (_imaging_gateway_v1_ApiKey | null);
}

/**
 * Response of RevokeApiKey.
 */
export interface RevokeApiKeyResponse__Output {
  /**
   * The key as revoked.
   */
  'key': (_imaging_gateway_v1_ApiKey__Output | null);
}
