// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Quota as _imaging_gateway_v1_Quota, Quota__Output as _imaging_gateway_v1_Quota__Output } from '../../../imaging/gateway/v1/Quota';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';

/**
 * Request of CreateApiKey.
 */
export interface CreateApiKeyRequest {
  /**
   * A human name, 1 to 128 characters. Required.
   */
  'display_name'?: (string);
  /**
   * The key's limits. Unset: the gateway's default plan.
   */
  'quota'?: (_imaging_gateway_v1_Quota | null);
  /**
   * What the key may call (see ApiKey.scopes). Empty: everything.
   */
  'scopes'?: (string)[];
  /**
   * When the key stops authenticating, in the future. Unset: never.
   */
  'expire_time'?: (_google_protobuf_Timestamp | null);
}

/**
 * Request of CreateApiKey.
 */
export interface CreateApiKeyRequest__Output {
  /**
   * A human name, 1 to 128 characters. Required.
   */
  'display_name': (string);
  /**
   * The key's limits. Unset: the gateway's default plan.
   */
  'quota': (_imaging_gateway_v1_Quota__Output | null);
  /**
   * What the key may call (see ApiKey.scopes). Empty: everything.
   */
  'scopes': (string)[];
  /**
   * When the key stops authenticating, in the future. Unset: never.
   */
  'expire_time': (_google_protobuf_Timestamp__Output | null);
}
