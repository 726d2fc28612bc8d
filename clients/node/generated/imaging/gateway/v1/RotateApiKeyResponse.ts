// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from '../../../imaging/gateway/v1/ApiKey';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';

/**
 * Response of RotateApiKey.
 */
export interface RotateApiKeyResponse {
  /**
   * The key.
   */
  'key'?: (_imaging_gateway_v1_ApiKey | null);
  /**
   * The new secret. Shown only here.
   */
  'secret'?: (string);
  /**
   * When the old secret stops working; unset when it stopped at once.
   */
  'old_secret_expire_time'?: (_google_protobuf_Timestamp | null);
}

/**
 * Response of RotateApiKey.
 */
export interface RotateApiKeyResponse__Output {
  /**
   * The key.
   */
  'key': (_imaging_gateway_v1_ApiKey__Output | null);
  /**
   * The new secret. Shown only here.
   */
  'secret': (string);
  /**
   * When the old secret stops working; unset when it stopped at once.
   */
  'old_secret_expire_time': (_google_protobuf_Timestamp__Output | null);
}
