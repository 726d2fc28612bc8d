// Original file: ../../protos/imaging/gateway/v1/gateway.proto


/**
 * Request of ListApiKeys.
 */
export interface ListApiKeysRequest {
  /**
   * Keys per page, 1 to 1000. 0 means 100.
   */
  'page_size'?: (number);
  /**
   * The next_page_token of a previous call. Empty: the first page.
   */
  'page_token'?: (string);
  /**
   * Also lists revoked keys. Default false.
   */
  'show_revoked'?: (boolean);
}

/**
 * Request of ListApiKeys.
 */
export interface ListApiKeysRequest__Output {
  /**
   * Keys per page, 1 to 1000. 0 means 100.
   */
  'page_size': (number);
  /**
   * The next_page_token of a previous call. Empty: the first page.
   */
  'page_token': (string);
  /**
   * Also lists revoked keys. Default false.
   */
  'show_revoked': (boolean);
}
