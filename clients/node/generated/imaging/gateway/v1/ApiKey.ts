// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKeyState as _imaging_gateway_v1_ApiKeyState, ApiKeyState__Output as _imaging_gateway_v1_ApiKeyState__Output } from '../../../imaging/gateway/v1/ApiKeyState';
import type { Quota as _imaging_gateway_v1_Quota, Quota__Output as _imaging_gateway_v1_Quota__Output } from '../../../imaging/gateway/v1/Quota';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';

/**
 * An API key, without its secret.
 */
export interface ApiKey {
  /**
   * The key's id, for example "key_3f9a...". Stable across rotation.
   */
  'key_id'?: (string);
  /**
   * A human name for the key, for example "billing-service prod".
   */
  'display_name'?: (string);
  /**
   * The key's state.
   */
  'state'?: (_imaging_gateway_v1_ApiKeyState);
  /**
   * The key's limits.
   */
  'quota'?: (_imaging_gateway_v1_Quota | null);
  /**
   * The first characters of the secret, to recognise a key in logs.
   */
  'secret_prefix'?: (string);
  /**
   * When the key was created.
   */
  'create_time'?: (_google_protobuf_Timestamp | null);
  /**
   * When the key was revoked; unset while active.
   */
  'revoke_time'?: (_google_protobuf_Timestamp | null);
  /**
   * What the key may call: full service names
   * ("imaging.captioner.v1.CaptionerService") or single methods
   * ("imaging.generator.v1.GeneratorService/Generate"). Empty: every
   * forwarded service and the UsageService.
   */
  'scopes'?: (string)[];
  /**
   * When the key stops authenticating; unset: never.
   */
  'expire_time'?: (_google_protobuf_Timestamp | null);
}

/**
 * An API key, without its secret.
 */
export interface ApiKey__Output {
  /**
   * The key's id, for example "key_3f9a...". Stable across rotation.
   */
  'key_id': (string);
  /**
   * A human name for the key, for example "billing-service prod".
   */
  'display_name': (string);
  /**
   * The key's state.
   */
  'state': (_imaging_gateway_v1_ApiKeyState__Output);
  /**
   * The key's limits.
   */
  'quota': (_imaging_gateway_v1_Quota__Output | null);
  /**
   * The first characters of the secret, to recognise a key in logs.
   */
  'secret_prefix': (string);
  /**
   * When the key was created.
   */
  'create_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * When the key was revoked; unset while active.
   */
  'revoke_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * What the key may call: full service names
   * ("imaging.captioner.v1.CaptionerService") or single methods
   * ("imaging.generator.v1.GeneratorService/Generate"). Empty: every
   * forwarded service and the UsageService.
   */
  'scopes': (string)[];
  /**
   * When the key stops authenticating; unset: never.
   */
  'expire_time': (_google_protobuf_Timestamp__Output | null);
}
