// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from '../../../imaging/gateway/v1/ApiKey';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../../google/protobuf/Timestamp';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from '../../../imaging/common/v1/Usage';
import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from '../../../imaging/common/v1/Cost';
import type { UsageBreakdown as _imaging_gateway_v1_UsageBreakdown, UsageBreakdown__Output as _imaging_gateway_v1_UsageBreakdown__Output } from '../../../imaging/gateway/v1/UsageBreakdown';
import type { Long } from '@grpc/proto-loader';

/**
 * Response of GetUsage.
 */
export interface GetUsageResponse {
  /**
   * The calling key.
   */
  'key'?: (_imaging_gateway_v1_ApiKey | null);
  /**
   * Start of the current quota period (the month, UTC).
   */
  'period_start_time'?: (_google_protobuf_Timestamp | null);
  /**
   * Usage summed over the current period.
   */
  'period_usage'?: (_imaging_common_v1_Usage | null);
  /**
   * Images left this period; unset when unlimited.
   */
  'remaining_images'?: (number | string | Long);
  /**
   * Spend left this period; unset when unlimited.
   */
  'remaining_spend'?: (_imaging_common_v1_Cost | null);
  /**
   * The period's usage by method and variant, sorted by method then model.
   */
  'breakdown'?: (_imaging_gateway_v1_UsageBreakdown)[];
  '_remaining_images'?: "remaining_images";
}

/**
 * Response of GetUsage.
 */
export interface GetUsageResponse__Output {
  /**
   * The calling key.
   */
  'key': (_imaging_gateway_v1_ApiKey__Output | null);
  /**
   * Start of the current quota period (the month, UTC).
   */
  'period_start_time': (_google_protobuf_Timestamp__Output | null);
  /**
   * Usage summed over the current period.
   */
  'period_usage': (_imaging_common_v1_Usage__Output | null);
  /**
   * Images left this period; unset when unlimited.
   */
  'remaining_images'?: (string);
  /**
   * Spend left this period; unset when unlimited.
   */
  'remaining_spend': (_imaging_common_v1_Cost__Output | null);
  /**
   * The period's usage by method and variant, sorted by method then model.
   */
  'breakdown': (_imaging_gateway_v1_UsageBreakdown__Output)[];
  '_remaining_images'?: "remaining_images";
}
