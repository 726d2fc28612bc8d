// Original file: ../../protos/imaging/captioner/v1/captioner.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CaptionRequest as _imaging_captioner_v1_CaptionRequest, CaptionRequest__Output as _imaging_captioner_v1_CaptionRequest__Output } from '../../../imaging/captioner/v1/CaptionRequest';
import type { CaptionResponse as _imaging_captioner_v1_CaptionResponse, CaptionResponse__Output as _imaging_captioner_v1_CaptionResponse__Output } from '../../../imaging/captioner/v1/CaptionResponse';
import type { EmbedImagesRequest as _imaging_captioner_v1_EmbedImagesRequest, EmbedImagesRequest__Output as _imaging_captioner_v1_EmbedImagesRequest__Output } from '../../../imaging/captioner/v1/EmbedImagesRequest';
import type { EmbedImagesResponse as _imaging_captioner_v1_EmbedImagesResponse, EmbedImagesResponse__Output as _imaging_captioner_v1_EmbedImagesResponse__Output } from '../../../imaging/captioner/v1/EmbedImagesResponse';
import type { EmbedTextsRequest as _imaging_captioner_v1_EmbedTextsRequest, EmbedTextsRequest__Output as _imaging_captioner_v1_EmbedTextsRequest__Output } from '../../../imaging/captioner/v1/EmbedTextsRequest';
import type { EmbedTextsResponse as _imaging_captioner_v1_EmbedTextsResponse, EmbedTextsResponse__Output as _imaging_captioner_v1_EmbedTextsResponse__Output } from '../../../imaging/captioner/v1/EmbedTextsResponse';
import type { GetCrossAttentionRequest as _imaging_captioner_v1_GetCrossAttentionRequest, GetCrossAttentionRequest__Output as _imaging_captioner_v1_GetCrossAttentionRequest__Output } from '../../../imaging/captioner/v1/GetCrossAttentionRequest';
import type { GetCrossAttentionResponse as _imaging_captioner_v1_GetCrossAttentionResponse, GetCrossAttentionResponse__Output as _imaging_captioner_v1_GetCrossAttentionResponse__Output } from '../../../imaging/captioner/v1/GetCrossAttentionResponse';
import type { GetModelInfoRequest as _imaging_captioner_v1_GetModelInfoRequest, GetModelInfoRequest__Output as _imaging_captioner_v1_GetModelInfoRequest__Output } from '../../../imaging/captioner/v1/GetModelInfoRequest';
import type { GetModelInfoResponse as _imaging_captioner_v1_GetModelInfoResponse, GetModelInfoResponse__Output as _imaging_captioner_v1_GetModelInfoResponse__Output } from '../../../imaging/captioner/v1/GetModelInfoResponse';
import type { MatchImageTextRequest as _imaging_captioner_v1_MatchImageTextRequest, MatchImageTextRequest__Output as _imaging_captioner_v1_MatchImageTextRequest__Output } from '../../../imaging/captioner/v1/MatchImageTextRequest';
import type { MatchImageTextResponse as _imaging_captioner_v1_MatchImageTextResponse, MatchImageTextResponse__Output as _imaging_captioner_v1_MatchImageTextResponse__Output } from '../../../imaging/captioner/v1/MatchImageTextResponse';
import type { StreamCaptionRequest as _imaging_captioner_v1_StreamCaptionRequest, StreamCaptionRequest__Output as _imaging_captioner_v1_StreamCaptionRequest__Output } from '../../../imaging/captioner/v1/StreamCaptionRequest';
import type { StreamCaptionResponse as _imaging_captioner_v1_StreamCaptionResponse, StreamCaptionResponse__Output as _imaging_captioner_v1_StreamCaptionResponse__Output } from '../../../imaging/captioner/v1/StreamCaptionResponse';

/**
 * Image captioning, image and text embeddings, image-text matching and
 * cross-attention maps on the BLIP architecture.
 */
export interface CaptionerServiceClient extends grpc.Client {
  /**
   * Captions a batch of images with the given decoding options.
   */
  Caption(argument: _imaging_captioner_v1_CaptionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  Caption(argument: _imaging_captioner_v1_CaptionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  Caption(argument: _imaging_captioner_v1_CaptionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  Caption(argument: _imaging_captioner_v1_CaptionRequest, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Captions a batch of images with the given decoding options.
   */
  caption(argument: _imaging_captioner_v1_CaptionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  caption(argument: _imaging_captioner_v1_CaptionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  caption(argument: _imaging_captioner_v1_CaptionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  caption(argument: _imaging_captioner_v1_CaptionRequest, callback: grpc.requestCallback<_imaging_captioner_v1_CaptionResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Embeds images into the shared image-text space (L2-normalised).
   */
  EmbedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  EmbedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  EmbedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  EmbedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Embeds images into the shared image-text space (L2-normalised).
   */
  embedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  embedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  embedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  embedImages(argument: _imaging_captioner_v1_EmbedImagesRequest, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedImagesResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Embeds texts into the shared image-text space (L2-normalised).
   */
  EmbedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  EmbedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  EmbedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  EmbedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Embeds texts into the shared image-text space (L2-normalised).
   */
  embedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  embedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  embedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  embedTexts(argument: _imaging_captioner_v1_EmbedTextsRequest, callback: grpc.requestCallback<_imaging_captioner_v1_EmbedTextsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Returns the decoder's cross-attention over the image patches for every
   * token of a caption, generated or given.
   */
  GetCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  GetCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  GetCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  GetCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Returns the decoder's cross-attention over the image patches for every
   * token of a caption, generated or given.
   */
  getCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  getCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  getCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  getCrossAttention(argument: _imaging_captioner_v1_GetCrossAttentionRequest, callback: grpc.requestCallback<_imaging_captioner_v1_GetCrossAttentionResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Describes the loaded models, their limits and which capabilities are
   * available, so that a client never guesses.
   */
  GetModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  GetModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  GetModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  GetModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Describes the loaded models, their limits and which capabilities are
   * available, so that a client never guesses.
   */
  getModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  getModelInfo(argument: _imaging_captioner_v1_GetModelInfoRequest, callback: grpc.requestCallback<_imaging_captioner_v1_GetModelInfoResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Scores how well each of several texts describes one image.
   */
  MatchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  MatchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  MatchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  MatchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Scores how well each of several texts describes one image.
   */
  matchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  matchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  matchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  matchImageText(argument: _imaging_captioner_v1_MatchImageTextRequest, callback: grpc.requestCallback<_imaging_captioner_v1_MatchImageTextResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Captions one image, sending each token as it is decoded and then the
   * final caption. The concatenated token texts equal the final caption text.
   */
  StreamCaption(argument: _imaging_captioner_v1_StreamCaptionRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_captioner_v1_StreamCaptionResponse__Output>;
  StreamCaption(argument: _imaging_captioner_v1_StreamCaptionRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_captioner_v1_StreamCaptionResponse__Output>;
  /**
   * Captions one image, sending each token as it is decoded and then the
   * final caption. The concatenated token texts equal the final caption text.
   */
  streamCaption(argument: _imaging_captioner_v1_StreamCaptionRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_captioner_v1_StreamCaptionResponse__Output>;
  streamCaption(argument: _imaging_captioner_v1_StreamCaptionRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_captioner_v1_StreamCaptionResponse__Output>;
  
}

/**
 * Image captioning, image and text embeddings, image-text matching and
 * cross-attention maps on the BLIP architecture.
 */
export interface CaptionerServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Captions a batch of images with the given decoding options.
   */
  Caption: grpc.handleUnaryCall<_imaging_captioner_v1_CaptionRequest__Output, _imaging_captioner_v1_CaptionResponse>;
  
  /**
   * Embeds images into the shared image-text space (L2-normalised).
   */
  EmbedImages: grpc.handleUnaryCall<_imaging_captioner_v1_EmbedImagesRequest__Output, _imaging_captioner_v1_EmbedImagesResponse>;
  
  /**
   * Embeds texts into the shared image-text space (L2-normalised).
   */
  EmbedTexts: grpc.handleUnaryCall<_imaging_captioner_v1_EmbedTextsRequest__Output, _imaging_captioner_v1_EmbedTextsResponse>;
  
  /**
   * Returns the decoder's cross-attention over the image patches for every
   * token of a caption, generated or given.
   */
  GetCrossAttention: grpc.handleUnaryCall<_imaging_captioner_v1_GetCrossAttentionRequest__Output, _imaging_captioner_v1_GetCrossAttentionResponse>;
  
  /**
   * Describes the loaded models, their limits and which capabilities are
   * available, so that a client never guesses.
   */
  GetModelInfo: grpc.handleUnaryCall<_imaging_captioner_v1_GetModelInfoRequest__Output, _imaging_captioner_v1_GetModelInfoResponse>;
  
  /**
   * Scores how well each of several texts describes one image.
   */
  MatchImageText: grpc.handleUnaryCall<_imaging_captioner_v1_MatchImageTextRequest__Output, _imaging_captioner_v1_MatchImageTextResponse>;
  
  /**
   * Captions one image, sending each token as it is decoded and then the
   * final caption. The concatenated token texts equal the final caption text.
   */
  StreamCaption: grpc.handleServerStreamingCall<_imaging_captioner_v1_StreamCaptionRequest__Output, _imaging_captioner_v1_StreamCaptionResponse>;
  
}

export interface CaptionerServiceDefinition extends grpc.ServiceDefinition {
  Caption: MethodDefinition<_imaging_captioner_v1_CaptionRequest, _imaging_captioner_v1_CaptionResponse, _imaging_captioner_v1_CaptionRequest__Output, _imaging_captioner_v1_CaptionResponse__Output>
  EmbedImages: MethodDefinition<_imaging_captioner_v1_EmbedImagesRequest, _imaging_captioner_v1_EmbedImagesResponse, _imaging_captioner_v1_EmbedImagesRequest__Output, _imaging_captioner_v1_EmbedImagesResponse__Output>
  EmbedTexts: MethodDefinition<_imaging_captioner_v1_EmbedTextsRequest, _imaging_captioner_v1_EmbedTextsResponse, _imaging_captioner_v1_EmbedTextsRequest__Output, _imaging_captioner_v1_EmbedTextsResponse__Output>
  GetCrossAttention: MethodDefinition<_imaging_captioner_v1_GetCrossAttentionRequest, _imaging_captioner_v1_GetCrossAttentionResponse, _imaging_captioner_v1_GetCrossAttentionRequest__Output, _imaging_captioner_v1_GetCrossAttentionResponse__Output>
  GetModelInfo: MethodDefinition<_imaging_captioner_v1_GetModelInfoRequest, _imaging_captioner_v1_GetModelInfoResponse, _imaging_captioner_v1_GetModelInfoRequest__Output, _imaging_captioner_v1_GetModelInfoResponse__Output>
  MatchImageText: MethodDefinition<_imaging_captioner_v1_MatchImageTextRequest, _imaging_captioner_v1_MatchImageTextResponse, _imaging_captioner_v1_MatchImageTextRequest__Output, _imaging_captioner_v1_MatchImageTextResponse__Output>
  StreamCaption: MethodDefinition<_imaging_captioner_v1_StreamCaptionRequest, _imaging_captioner_v1_StreamCaptionResponse, _imaging_captioner_v1_StreamCaptionRequest__Output, _imaging_captioner_v1_StreamCaptionResponse__Output>
}
