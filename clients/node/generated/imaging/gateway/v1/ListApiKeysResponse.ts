// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from '../../../imaging/gateway/v1/ApiKey';

/**
 * Response of ListApiKeys.
 */
export interface ListApiKeysResponse {
  /**
   * The keys of this page.
   */
  'keys'?: (_imaging_gateway_v1_ApiKey)[];
  /**
   * The token for the next page. Empty: this is the last page.
   */
  'next_page_token'?: (string);
}

/**
 * Response of ListApiKeys.
 */
export interface ListApiKeysResponse__Output {
  /**
   * The keys of this page.
   */
  'keys': (_imaging_gateway_v1_ApiKey__Output)[];
  /**
   * The token for the next page. Empty: this is the last page.
   */
  'next_page_token': (string);
}
