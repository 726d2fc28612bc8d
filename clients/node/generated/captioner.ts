import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Adapter as _imaging_captioner_v1_Adapter, Adapter__Output as _imaging_captioner_v1_Adapter__Output } from './imaging/captioner/v1/Adapter';
import type { AttentionMap as _imaging_captioner_v1_AttentionMap, AttentionMap__Output as _imaging_captioner_v1_AttentionMap__Output } from './imaging/captioner/v1/AttentionMap';
import type { Caption as _imaging_captioner_v1_Caption, Caption__Output as _imaging_captioner_v1_Caption__Output } from './imaging/captioner/v1/Caption';
import type { CaptionRequest as _imaging_captioner_v1_CaptionRequest, CaptionRequest__Output as _imaging_captioner_v1_CaptionRequest__Output } from './imaging/captioner/v1/CaptionRequest';
import type { CaptionResponse as _imaging_captioner_v1_CaptionResponse, CaptionResponse__Output as _imaging_captioner_v1_CaptionResponse__Output } from './imaging/captioner/v1/CaptionResponse';
import type { CaptionToken as _imaging_captioner_v1_CaptionToken, CaptionToken__Output as _imaging_captioner_v1_CaptionToken__Output } from './imaging/captioner/v1/CaptionToken';
import type { CaptionerServiceClient as _imaging_captioner_v1_CaptionerServiceClient, CaptionerServiceDefinition as _imaging_captioner_v1_CaptionerServiceDefinition } from './imaging/captioner/v1/CaptionerService';
import type { DecodingOptions as _imaging_captioner_v1_DecodingOptions, DecodingOptions__Output as _imaging_captioner_v1_DecodingOptions__Output } from './imaging/captioner/v1/DecodingOptions';
import type { EmbedImagesRequest as _imaging_captioner_v1_EmbedImagesRequest, EmbedImagesRequest__Output as _imaging_captioner_v1_EmbedImagesRequest__Output } from './imaging/captioner/v1/EmbedImagesRequest';
import type { EmbedImagesResponse as _imaging_captioner_v1_EmbedImagesResponse, EmbedImagesResponse__Output as _imaging_captioner_v1_EmbedImagesResponse__Output } from './imaging/captioner/v1/EmbedImagesResponse';
import type { EmbedTextsRequest as _imaging_captioner_v1_EmbedTextsRequest, EmbedTextsRequest__Output as _imaging_captioner_v1_EmbedTextsRequest__Output } from './imaging/captioner/v1/EmbedTextsRequest';
import type { EmbedTextsResponse as _imaging_captioner_v1_EmbedTextsResponse, EmbedTextsResponse__Output as _imaging_captioner_v1_EmbedTextsResponse__Output } from './imaging/captioner/v1/EmbedTextsResponse';
import type { Embedding as _imaging_captioner_v1_Embedding, Embedding__Output as _imaging_captioner_v1_Embedding__Output } from './imaging/captioner/v1/Embedding';
import type { GetCrossAttentionRequest as _imaging_captioner_v1_GetCrossAttentionRequest, GetCrossAttentionRequest__Output as _imaging_captioner_v1_GetCrossAttentionRequest__Output } from './imaging/captioner/v1/GetCrossAttentionRequest';
import type { GetCrossAttentionResponse as _imaging_captioner_v1_GetCrossAttentionResponse, GetCrossAttentionResponse__Output as _imaging_captioner_v1_GetCrossAttentionResponse__Output } from './imaging/captioner/v1/GetCrossAttentionResponse';
import type { GetModelInfoRequest as _imaging_captioner_v1_GetModelInfoRequest, GetModelInfoRequest__Output as _imaging_captioner_v1_GetModelInfoRequest__Output } from './imaging/captioner/v1/GetModelInfoRequest';
import type { GetModelInfoResponse as _imaging_captioner_v1_GetModelInfoResponse, GetModelInfoResponse__Output as _imaging_captioner_v1_GetModelInfoResponse__Output } from './imaging/captioner/v1/GetModelInfoResponse';
import type { MatchImageTextRequest as _imaging_captioner_v1_MatchImageTextRequest, MatchImageTextRequest__Output as _imaging_captioner_v1_MatchImageTextRequest__Output } from './imaging/captioner/v1/MatchImageTextRequest';
import type { MatchImageTextResponse as _imaging_captioner_v1_MatchImageTextResponse, MatchImageTextResponse__Output as _imaging_captioner_v1_MatchImageTextResponse__Output } from './imaging/captioner/v1/MatchImageTextResponse';
import type { StreamCaptionRequest as _imaging_captioner_v1_StreamCaptionRequest, StreamCaptionRequest__Output as _imaging_captioner_v1_StreamCaptionRequest__Output } from './imaging/captioner/v1/StreamCaptionRequest';
import type { StreamCaptionResponse as _imaging_captioner_v1_StreamCaptionResponse, StreamCaptionResponse__Output as _imaging_captioner_v1_StreamCaptionResponse__Output } from './imaging/captioner/v1/StreamCaptionResponse';
import type { TextMatch as _imaging_captioner_v1_TextMatch, TextMatch__Output as _imaging_captioner_v1_TextMatch__Output } from './imaging/captioner/v1/TextMatch';
import type { TokenAttention as _imaging_captioner_v1_TokenAttention, TokenAttention__Output as _imaging_captioner_v1_TokenAttention__Output } from './imaging/captioner/v1/TokenAttention';
import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from './imaging/common/v1/Cost';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from './imaging/common/v1/Image';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from './imaging/common/v1/Usage';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  imaging: {
    captioner: {
      v1: {
        Adapter: MessageTypeDefinition<_imaging_captioner_v1_Adapter, _imaging_captioner_v1_Adapter__Output>
        AttentionMap: MessageTypeDefinition<_imaging_captioner_v1_AttentionMap, _imaging_captioner_v1_AttentionMap__Output>
        Capability: EnumTypeDefinition
        Caption: MessageTypeDefinition<_imaging_captioner_v1_Caption, _imaging_captioner_v1_Caption__Output>
        CaptionRequest: MessageTypeDefinition<_imaging_captioner_v1_CaptionRequest, _imaging_captioner_v1_CaptionRequest__Output>
        CaptionResponse: MessageTypeDefinition<_imaging_captioner_v1_CaptionResponse, _imaging_captioner_v1_CaptionResponse__Output>
        CaptionToken: MessageTypeDefinition<_imaging_captioner_v1_CaptionToken, _imaging_captioner_v1_CaptionToken__Output>
        /**
         * Image captioning, image and text embeddings, image-text matching and
         * cross-attention maps on the BLIP architecture.
         */
        CaptionerService: SubtypeConstructor<typeof grpc.Client, _imaging_captioner_v1_CaptionerServiceClient> & { service: _imaging_captioner_v1_CaptionerServiceDefinition }
        DecodingOptions: MessageTypeDefinition<_imaging_captioner_v1_DecodingOptions, _imaging_captioner_v1_DecodingOptions__Output>
        DecodingStrategy: EnumTypeDefinition
        EmbedImagesRequest: MessageTypeDefinition<_imaging_captioner_v1_EmbedImagesRequest, _imaging_captioner_v1_EmbedImagesRequest__Output>
        EmbedImagesResponse: MessageTypeDefinition<_imaging_captioner_v1_EmbedImagesResponse, _imaging_captioner_v1_EmbedImagesResponse__Output>
        EmbedTextsRequest: MessageTypeDefinition<_imaging_captioner_v1_EmbedTextsRequest, _imaging_captioner_v1_EmbedTextsRequest__Output>
        EmbedTextsResponse: MessageTypeDefinition<_imaging_captioner_v1_EmbedTextsResponse, _imaging_captioner_v1_EmbedTextsResponse__Output>
        Embedding: MessageTypeDefinition<_imaging_captioner_v1_Embedding, _imaging_captioner_v1_Embedding__Output>
        FinishReason: EnumTypeDefinition
        GetCrossAttentionRequest: MessageTypeDefinition<_imaging_captioner_v1_GetCrossAttentionRequest, _imaging_captioner_v1_GetCrossAttentionRequest__Output>
        GetCrossAttentionResponse: MessageTypeDefinition<_imaging_captioner_v1_GetCrossAttentionResponse, _imaging_captioner_v1_GetCrossAttentionResponse__Output>
        GetModelInfoRequest: MessageTypeDefinition<_imaging_captioner_v1_GetModelInfoRequest, _imaging_captioner_v1_GetModelInfoRequest__Output>
        GetModelInfoResponse: MessageTypeDefinition<_imaging_captioner_v1_GetModelInfoResponse, _imaging_captioner_v1_GetModelInfoResponse__Output>
        HeadReduction: EnumTypeDefinition
        MatchImageTextRequest: MessageTypeDefinition<_imaging_captioner_v1_MatchImageTextRequest, _imaging_captioner_v1_MatchImageTextRequest__Output>
        MatchImageTextResponse: MessageTypeDefinition<_imaging_captioner_v1_MatchImageTextResponse, _imaging_captioner_v1_MatchImageTextResponse__Output>
        ResizeMode: EnumTypeDefinition
        StreamCaptionRequest: MessageTypeDefinition<_imaging_captioner_v1_StreamCaptionRequest, _imaging_captioner_v1_StreamCaptionRequest__Output>
        StreamCaptionResponse: MessageTypeDefinition<_imaging_captioner_v1_StreamCaptionResponse, _imaging_captioner_v1_StreamCaptionResponse__Output>
        TextMatch: MessageTypeDefinition<_imaging_captioner_v1_TextMatch, _imaging_captioner_v1_TextMatch__Output>
        TokenAttention: MessageTypeDefinition<_imaging_captioner_v1_TokenAttention, _imaging_captioner_v1_TokenAttention__Output>
      }
    }
    common: {
      v1: {
        Cost: MessageTypeDefinition<_imaging_common_v1_Cost, _imaging_common_v1_Cost__Output>
        Image: MessageTypeDefinition<_imaging_common_v1_Image, _imaging_common_v1_Image__Output>
        ImageFormat: EnumTypeDefinition
        Usage: MessageTypeDefinition<_imaging_common_v1_Usage, _imaging_common_v1_Usage__Output>
      }
    }
  }
}

