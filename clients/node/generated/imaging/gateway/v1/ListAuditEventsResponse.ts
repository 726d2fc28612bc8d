// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { AuditEvent as _imaging_gateway_v1_AuditEvent, AuditEvent__Output as _imaging_gateway_v1_AuditEvent__Output } from '../../../imaging/gateway/v1/AuditEvent';

/**
 * Response of ListAuditEvents.
 */
export interface ListAuditEventsResponse {
  /**
   * The events of this page, newest first.
   */
  'events'?: (_imaging_gateway_v1_AuditEvent)[];
  /**
   * The token for the next page. Empty: this is the last page.
   */
  'next_page_token'?: (string);
}

/**
 * Response of ListAuditEvents.
 */
export interface ListAuditEventsResponse__Output {
  /**
   * The events of this page, newest first.
   */
  'events': (_imaging_gateway_v1_AuditEvent__Output)[];
  /**
   * The token for the next page. Empty: this is the last page.
   */
  'next_page_token': (string);
}
