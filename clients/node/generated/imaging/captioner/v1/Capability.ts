// Original file: ../../protos/imaging/captioner/v1/captioner.proto

/**
 * A capability of the captioner, present when its model is loaded.
 */
export const Capability = {
  /**
   * Not set; never reported.
   */
  CAPABILITY_UNSPECIFIED: 'CAPABILITY_UNSPECIFIED',
  /**
   * Caption and StreamCaption.
   */
  CAPABILITY_CAPTION: 'CAPABILITY_CAPTION',
  /**
   * EmbedImages and EmbedTexts.
   */
  CAPABILITY_EMBED: 'CAPABILITY_EMBED',
  /**
   * MatchImageText.
   */
  CAPABILITY_MATCH: 'CAPABILITY_MATCH',
  /**
   * GetCrossAttention.
   */
  CAPABILITY_CROSS_ATTENTION: 'CAPABILITY_CROSS_ATTENTION',
} as const;

/**
 * A capability of the captioner, present when its model is loaded.
 */
export type Capability =
  /**
   * Not set; never reported.
   */
  | 'CAPABILITY_UNSPECIFIED'
  | 0
  /**
   * Caption and StreamCaption.
   */
  | 'CAPABILITY_CAPTION'
  | 1
  /**
   * EmbedImages and EmbedTexts.
   */
  | 'CAPABILITY_EMBED'
  | 2
  /**
   * MatchImageText.
   */
  | 'CAPABILITY_MATCH'
  | 3
  /**
   * GetCrossAttention.
   */
  | 'CAPABILITY_CROSS_ATTENTION'
  | 4

/**
 * A capability of the captioner, present when its model is loaded.
 */
export type Capability__Output = typeof Capability[keyof typeof Capability]
