// Original file: ../../protos/imaging/common/v1/common.proto

import type { Long } from '@grpc/proto-loader';

/**
 * An amount of money in the deployment's billing currency.
 */
export interface Cost {
  /**
   * The ISO 4217 currency code, for example "USD". Empty means the
   * deployment's single configured currency.
   */
  'currency_code'?: (string);
  /**
   * The amount in millionths of a currency unit (1 USD = 1,000,000). Never
   * negative. Integer so that sums over a ledger are exact.
   */
  'amount_micros'?: (number | string | Long);
}

/**
 * An amount of money in the deployment's billing currency.
 */
export interface Cost__Output {
  /**
   * The ISO 4217 currency code, for example "USD". Empty means the
   * deployment's single configured currency.
   */
  'currency_code': (string);
  /**
   * The amount in millionths of a currency unit (1 USD = 1,000,000). Never
   * negative. Integer so that sums over a ledger are exact.
   */
  'amount_micros': (string);
}
