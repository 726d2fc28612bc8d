// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';
import type { Long } from '@grpc/proto-loader';

/**
 * One change to a key, as the audit log keeps it.
 */
export interface AuditEvent {
  /**
   * The event's id, increasing with time.
   */
  'event_id'?: (number | string | Long);
  /**
   * When the change was made.
   */
  'create_time'?: (_google_protobuf_Timestamp | null);
  /**
   * Who made it: "admin" plus the `x-admin-identity` the admin sent, and the
   * client's address.
   */
  'actor'?: (string);
  /**
   * What was done: "create", "revoke", "rotate" or "set_quota".
   */
  'action'?: (string);
  /**
   * The key changed.
   */
  'key_id'?: (string);
  /**
   * What changed (plan, limits, scopes, grace period), never key material.
   */
  'details'?: ({[key: string]: string});
}

/**
 * One change to a key, as the audit log keeps it.
 */
export interface AuditEvent__Output {
  /**
   * The event's id, increasing with time.
   */
  'event_id': (string);
  /**
   * When the change was made.
   */
  'create_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * Who made it: "admin" plus the `x-admin-identity` the admin sent, and the
   * client's address.
   */
  'actor': (string);
  /**
   * What was done: "create", "revoke", "rotate" or "set_quota".
   */
  'action': (string);
  /**
   * The key changed.
   */
  'key_id': (string);
  /**
   * What changed (plan, limits, scopes, grace period), never key material.
   */
  'details': ({[key: string]: string});
}
