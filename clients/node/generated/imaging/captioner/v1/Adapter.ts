// Original file: ../../protos/imaging/captioner/v1/captioner.proto


/**
 * A LoRA adapter loaded at start and selectable per request.
 */
export interface Adapter {
  /**
   * The adapter's name, used in `adapter` request fields, for example "fr".
   */
  'name'?: (string);
  /**
   * A human description, for example "French captions".
   */
  'description'?: (string);
}

/**
 * A LoRA adapter loaded at start and selectable per request.
 */
export interface Adapter__Output {
  /**
   * The adapter's name, used in `adapter` request fields, for example "fr".
   */
  'name': (string);
  /**
   * A human description, for example "French captions".
   */
  'description': (string);
}
