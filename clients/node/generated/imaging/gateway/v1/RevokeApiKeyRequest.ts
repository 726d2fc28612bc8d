// Original file: ../../protos/imaging/gateway/v1/gateway.proto


/**
 * Request of RevokeApiKey.
 */
export interface RevokeApiKeyRequest {
  /**
   * The key to revoke. Required.
   */
  'key_id'?: (string);
}

/**
 * Request of RevokeApiKey.
 */
export interface RevokeApiKeyRequest__Output {
  /**
   * The key to revoke. Required.
   */
  'key_id': (string);
}
