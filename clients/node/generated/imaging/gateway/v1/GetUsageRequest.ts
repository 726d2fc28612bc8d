// Original file: ../../protos/imaging/gateway/v1/gateway.proto


/**
 * Request of GetUsage. Has no fields: the key is the caller's.
 */
export interface GetUsageRequest {
}

/**
 * Request of GetUsage. Has no fields: the key is the caller's.
 */
export interface GetUsageRequest__Output {
}
