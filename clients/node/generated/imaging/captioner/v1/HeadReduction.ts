// Original file: ../../protos/imaging/captioner/v1/captioner.proto

/**
 * How attention heads are combined.
 */
export const HeadReduction = {
  /**
   * Not set: HEAD_REDUCTION_MEAN.
   */
  HEAD_REDUCTION_UNSPECIFIED: 'HEAD_REDUCTION_UNSPECIFIED',
  /**
   * One map per layer: the mean over heads.
   */
  HEAD_REDUCTION_MEAN: 'HEAD_REDUCTION_MEAN',
  /**
   * One map per layer and head.
   */
  HEAD_REDUCTION_NONE: 'HEAD_REDUCTION_NONE',
} as const;

/**
 * How attention heads are combined.
 */
export type HeadReduction =
  /**
   * Not set: HEAD_REDUCTION_MEAN.
   */
  | 'HEAD_REDUCTION_UNSPECIFIED'
  | 0
  /**
   * One map per layer: the mean over heads.
   */
  | 'HEAD_REDUCTION_MEAN'
  | 1
  /**
   * One map per layer and head.
   */
  | 'HEAD_REDUCTION_NONE'
  | 2

/**
 * How attention heads are combined.
 */
export type HeadReduction__Output = typeof HeadReduction[keyof typeof HeadReduction]
