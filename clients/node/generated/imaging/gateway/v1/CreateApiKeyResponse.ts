// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from '../../../imaging/gateway/v1/ApiKey';

/**
 * Response of CreateApiKey.
 */
export interface CreateApiKeyResponse {
  /**
   * The new key.
   */
  'key'?: (_imaging_gateway_v1_ApiKey | null);
  /**
   * The secret to send as `authorization: Bearer <secret>`. Shown only here;
   * the gateway stores a hash.
   */
  'secret'?: (string);
}

/**
 * Response of CreateApiKey.
 */
export interface CreateApiKeyResponse__Output {
  /**
   * The new key.
   */
  'key': (_imaging_gateway_v1_ApiKey__Output | null);
  /**
   * The secret to send as `authorization: Bearer <secret>`. Shown only here;
   * the gateway stores a hash.
   */
  'secret': (string);
}
