// Original file: ../../protos/imaging/gateway/v1/gateway.proto

/**
 * The state of an API key.
 */
export const ApiKeyState = {
  /**
   * Not set; never reported.
   */
  API_KEY_STATE_UNSPECIFIED: 'API_KEY_STATE_UNSPECIFIED',
  /**
   * The key authenticates calls.
   */
  API_KEY_STATE_ACTIVE: 'API_KEY_STATE_ACTIVE',
  /**
   * The key was revoked and authenticates nothing.
   */
  API_KEY_STATE_REVOKED: 'API_KEY_STATE_REVOKED',
  /**
   * The key passed its expire_time and authenticates nothing.
   */
  API_KEY_STATE_EXPIRED: 'API_KEY_STATE_EXPIRED',
} as const;

/**
 * The state of an API key.
 */
export type ApiKeyState =
  /**
   * Not set; never reported.
   */
  | 'API_KEY_STATE_UNSPECIFIED'
  | 0
  /**
   * The key authenticates calls.
   */
  | 'API_KEY_STATE_ACTIVE'
  | 1
  /**
   * The key was revoked and authenticates nothing.
   */
  | 'API_KEY_STATE_REVOKED'
  | 2
  /**
   * The key passed its expire_time and authenticates nothing.
   */
  | 'API_KEY_STATE_EXPIRED'
  | 3

/**
 * The state of an API key.
 */
export type ApiKeyState__Output = typeof ApiKeyState[keyof typeof ApiKeyState]
