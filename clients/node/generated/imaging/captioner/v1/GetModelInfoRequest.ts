// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * Request of GetModelInfo. Has no fields.
 */
export interface GetModelInfoRequest {
}

/**
 * Request of GetModelInfo. Has no fields.
 */
export interface GetModelInfoRequest__Output {
}
