// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { UsageRecord as _imaging_gateway_v1_UsageRecord, UsageRecord__Output as _imaging_gateway_v1_UsageRecord__Output } from '../../../imaging/gateway/v1/UsageRecord';

/**
 * Response of ExportUsage: one record per message.
 */
export interface ExportUsageResponse {
  /**
   * A usage record.
   */
  'record'?: (_imaging_gateway_v1_UsageRecord | null);
}

/**
 * Response of ExportUsage: one record per message.
 */
export interface ExportUsageResponse__Output {
  /**
   * A usage record.
   */
  'record': (_imaging_gateway_v1_UsageRecord__Output | null);
}
