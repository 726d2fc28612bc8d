// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';

/**
 * One billed call, as written to the ledger.
 */
export interface UsageRecord {
  /**
   * The record's id; unique, so a replayed export is idempotent.
   */
  'record_id'?: (string);
  /**
   * The key that was billed.
   */
  'key_id'?: (string);
  /**
   * The full method, for example "/imaging.generator.v1.GeneratorService/Generate".
   */
  'method'?: (string);
  /**
   * The model or variant used, for example "flux.1-schnell".
   */
  'model'?: (string);
  /**
   * What the call consumed.
   */
  'usage'?: (_imaging_common_v1_Usage | null);
  /**
   * The request id of the call, as in the servers' logs.
   */
  'request_id'?: (string);
  /**
   * When the call finished.
   */
  'create_time'?: (_google_protobuf_Timestamp | null);
  /**
   * The image's index within its call, 0-based: a record bills one image.
   */
  'image_index'?: (number);
}

/**
 * One billed call, as written to the ledger.
 */
export interface UsageRecord__Output {
  /**
   * The record's id; unique, so a replayed export is idempotent.
   */
  'record_id': (string);
  /**
   * The key that was billed.
   */
  'key_id': (string);
  /**
   * The full method, for example "/imaging.generator.v1.GeneratorService/Generate".
   */
  'method': (string);
  /**
   * The model or variant used, for example "flux.1-schnell".
   */
  'model': (string);
  /**
   * What the call consumed.
   */
  'usage': (_imaging_common_v1_Usage__Output | null);
  /**
   * The request id of the call, as in the servers' logs.
   */
  'request_id': (string);
  /**
   * When the call finished.
   */
  'create_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * The image's index within its call, 0-based: a record bills one image.
   */
  'image_index': (number);
}
