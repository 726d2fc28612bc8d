// Original file: ../../protos/imaging/gateway/v1/gateway.proto


/**
 * Request of ListAuditEvents.
 */
export interface ListAuditEventsRequest {
  /**
   * Events per page, 1 to 1000. 0 means 100.
   */
  'page_size'?: (number);
  /**
   * The next_page_token of a previous call. Empty: the first page.
   */
  'page_token'?: (string);
  /**
   * Only this key's events. Empty: every key.
   */
  'key_id'?: (string);
}

/**
 * Request of ListAuditEvents.
 */
export interface ListAuditEventsRequest__Output {
  /**
   * Events per page, 1 to 1000. 0 means 100.
   */
  'page_size': (number);
  /**
   * The next_page_token of a previous call. Empty: the first page.
   */
  'page_token': (string);
  /**
   * Only this key's events. Empty: every key.
   */
  'key_id': (string);
}
