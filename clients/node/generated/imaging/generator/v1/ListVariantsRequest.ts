// Original file: ../../protos/imaging/generator/v1/generator.proto


/**
 * Request of ListVariants. Has no fields.
 */
export interface ListVariantsRequest {
}

/**
 * Request of ListVariants. Has no fields.
 */
export interface ListVariantsRequest__Output {
}
