// Original file: ../../protos/imaging/generator/v1/generator.proto

/**
 * How a variant's images are priced.
 */
export const PricingModel = {
  /**
   * Not set; never reported.
   */
  PRICING_MODEL_UNSPECIFIED: 'PRICING_MODEL_UNSPECIFIED',
  /**
   * The same price for every image: `per_image`.
   */
  PRICING_MODEL_FLAT: 'PRICING_MODEL_FLAT',
  /**
   * `first_megapixel` for the first output megapixel (or part of it), plus
   * `per_extra_megapixel` per further output megapixel and
   * `per_input_megapixel` per reference-image megapixel, pro rata.
   */
  PRICING_MODEL_MEGAPIXEL: 'PRICING_MODEL_MEGAPIXEL',
} as const;

/**
 * How a variant's images are priced.
 */
export type PricingModel =
  /**
   * Not set; never reported.
   */
  | 'PRICING_MODEL_UNSPECIFIED'
  | 0
  /**
   * The same price for every image: `per_image`.
   */
  | 'PRICING_MODEL_FLAT'
  | 1
  /**
   * `first_megapixel` for the first output megapixel (or part of it), plus
   * `per_extra_megapixel` per further output megapixel and
   * `per_input_megapixel` per reference-image megapixel, pro rata.
   */
  | 'PRICING_MODEL_MEGAPIXEL'
  | 2

/**
 * How a variant's images are priced.
 */
export type PricingModel__Output = typeof PricingModel[keyof typeof PricingModel]
