// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type { Capability as _imaging_captioner_v1_Capability, Capability__Output as _imaging_captioner_v1_Capability__Output } from '../../../imaging/captioner/v1/Capability';
import type { Adapter as _imaging_captioner_v1_Adapter, Adapter__Output as _imaging_captioner_v1_Adapter__Output } from '../../../imaging/captioner/v1/Adapter';
import type { Long } from '@grpc/proto-loader';

/**
 * Response of GetModelInfo.
 */
export interface GetModelInfoResponse {
  /**
   * The captioning checkpoint: a directory or a hub id. Empty when captioning
   * is not loaded.
   */
  'caption_model'?: (string);
  /**
   * The retrieval checkpoint used for embeddings and matching. Empty when not
   * loaded.
   */
  'retrieval_model'?: (string);
  /**
   * The capabilities that are loaded; the others answer FAILED_PRECONDITION.
   */
  'capabilities'?: (_imaging_captioner_v1_Capability)[];
  /**
   * The square input side of the vision encoder, in pixels (384 for BLIP-base).
   */
  'image_size_px'?: (number);
  /**
   * The vision patch side, in pixels (16 for BLIP-base).
   */
  'patch_size_px'?: (number);
  /**
   * Rows of the patch grid: image_size_px / patch_size_px.
   */
  'grid_height'?: (number);
  /**
   * Columns of the patch grid: image_size_px / patch_size_px.
   */
  'grid_width'?: (number);
  /**
   * The largest max_new_tokens a request may ask for.
   */
  'max_new_tokens_limit'?: (number);
  /**
   * The max_new_tokens used when a request leaves it unset.
   */
  'default_max_new_tokens'?: (number);
  /**
   * The most images one request may carry.
   */
  'max_images_per_request'?: (number);
  /**
   * The largest encoded image accepted, in bytes.
   */
  'max_image_bytes'?: (number | string | Long);
  /**
   * The largest decoded image accepted, in pixels (width x height).
   */
  'max_image_pixels'?: (number | string | Long);
  /**
   * The dimension of embeddings in the shared space; 0 when not loaded.
   */
  'embedding_dimension'?: (number);
  /**
   * The LoRA adapters that requests may name.
   */
  'adapters'?: (_imaging_captioner_v1_Adapter)[];
  /**
   * The most compatible requests decoded together in one batch.
   */
  'max_batch_size'?: (number);
}

/**
 * Response of GetModelInfo.
 */
export interface GetModelInfoResponse__Output {
  /**
   * The captioning checkpoint: a directory or a hub id. Empty when captioning
   * is not loaded.
   */
  'caption_model': (string);
  /**
   * The retrieval checkpoint used for embeddings and matching. Empty when not
   * loaded.
   */
  'retrieval_model': (string);
  /**
   * The capabilities that are loaded; the others answer FAILED_PRECONDITION.
   */
  'capabilities': (_imaging_captioner_v1_Capability__Output)[];
  /**
   * The square input side of the vision encoder, in pixels (384 for BLIP-base).
   */
  'image_size_px': (number);
  /**
   * The vision patch side, in pixels (16 for BLIP-base).
   */
  'patch_size_px': (number);
  /**
   * Rows of the patch grid: image_size_px / patch_size_px.
   */
  'grid_height': (number);
  /**
   * Columns of the patch grid: image_size_px / patch_size_px.
   */
  'grid_width': (number);
  /**
   * The largest max_new_tokens a request may ask for.
   */
  'max_new_tokens_limit': (number);
  /**
   * The max_new_tokens used when a request leaves it unset.
   */
  'default_max_new_tokens': (number);
  /**
   * The most images one request may carry.
   */
  'max_images_per_request': (number);
  /**
   * The largest encoded image accepted, in bytes.
   */
  'max_image_bytes': (string);
  /**
   * The largest decoded image accepted, in pixels (width x height).
   */
  'max_image_pixels': (string);
  /**
   * The dimension of embeddings in the shared space; 0 when not loaded.
   */
  'embedding_dimension': (number);
  /**
   * The LoRA adapters that requests may name.
   */
  'adapters': (_imaging_captioner_v1_Adapter__Output)[];
  /**
   * The most compatible requests decoded together in one batch.
   */
  'max_batch_size': (number);
}
