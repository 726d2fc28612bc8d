// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from '../../../google/protobuf/Duration';

/**
 * Request of RotateApiKey.
 */
export interface RotateApiKeyRequest {
  /**
   * The key to rotate. Required.
   */
  'key_id'?: (string);
  /**
   * How long the old secret keeps working, 0 to 30 days. Unset or zero: it
   * stops at once.
   */
  'grace_period'?: (_google_protobuf_Duration | null);
}

/**
 * Request of RotateApiKey.
 */
export interface RotateApiKeyRequest__Output {
  /**
   * The key to rotate. Required.
   */
  'key_id': (string);
  /**
   * How long the old secret keeps working, 0 to 30 days. Unset or zero: it
   * stops at once.
   */
  'grace_period': (_google_protobuf_Duration__Output | null);
}
