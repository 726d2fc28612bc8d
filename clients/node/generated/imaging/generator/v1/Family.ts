// Original file: ../../protos/imaging/generator/v1/generator.proto

/**
 * A FLUX model family; variants of one family share a pipeline type.
 */
export const Family = {
  /**
   * Not set; never reported.
   */
  FAMILY_UNSPECIFIED: 'FAMILY_UNSPECIFIED',
  /**
   * FLUX.1 (FluxPipeline and its Kontext, img2img and inpaint forms).
   */
  FAMILY_FLUX_1: 'FAMILY_FLUX_1',
  /**
   * FLUX.2 (Flux2Pipeline, Flux2KleinPipeline) with several reference images.
   */
  FAMILY_FLUX_2: 'FAMILY_FLUX_2',
} as const;

/**
 * A FLUX model family; variants of one family share a pipeline type.
 */
export type Family =
  /**
   * Not set; never reported.
   */
  | 'FAMILY_UNSPECIFIED'
  | 0
  /**
   * FLUX.1 (FluxPipeline and its Kontext, img2img and inpaint forms).
   */
  | 'FAMILY_FLUX_1'
  | 1
  /**
   * FLUX.2 (Flux2Pipeline, Flux2KleinPipeline) with several reference images.
   */
  | 'FAMILY_FLUX_2'
  | 2

/**
 * A FLUX model family; variants of one family share a pipeline type.
 */
export type Family__Output = typeof Family[keyof typeof Family]
