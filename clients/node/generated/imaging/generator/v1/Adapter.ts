// Original file: ../../protos/imaging/generator/v1/generator.proto


/**
 * A LoRA adapter of a variant: fine-tuned weights applied on top of the
 * variant's model for the calls that name it.
 */
export interface Adapter {
  /**
   * The name requests use in `GenerationSpec.adapter`, for example "outline";
   * 1-63 lower-case letters, digits or hyphens.
   */
  'name'?: (string);
  /**
   * A human description of what the adapter changes. May be empty.
   */
  'description'?: (string);
}

/**
 * A LoRA adapter of a variant: fine-tuned weights applied on top of the
 * variant's model for the calls that name it.
 */
export interface Adapter__Output {
  /**
   * The name requests use in `GenerationSpec.adapter`, for example "outline";
   * 1-63 lower-case letters, digits or hyphens.
   */
  'name': (string);
  /**
   * A human description of what the adapter changes. May be empty.
   */
  'description': (string);
}
