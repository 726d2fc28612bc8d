// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';

/**
 * Request of ExportUsage.
 */
export interface ExportUsageRequest {
  /**
   * Records created at or after this time. Unset: from the first record.
   */
  'start_time'?: (_google_protobuf_Timestamp | null);
  /**
   * Records created before this time. Unset: up to now.
   */
  'end_time'?: (_google_protobuf_Timestamp | null);
  /**
   * Only this key's records. Empty: every key.
   */
  'key_id'?: (string);
}

/**
 * Request of ExportUsage.
 */
export interface ExportUsageRequest__Output {
  /**
   * Records created at or after this time. Unset: from the first record.
   */
  'start_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * Records created before this time. Unset: up to now.
   */
  'end_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * Only this key's records. Empty: every key.
   */
  'key_id': (string);
}
