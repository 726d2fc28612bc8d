import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from './google/protobuf/Duration';
import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from './imaging/common/v1/Cost';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from './imaging/common/v1/Image';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from './imaging/common/v1/Usage';
import type { Adapter as _imaging_generator_v1_Adapter, Adapter__Output as _imaging_generator_v1_Adapter__Output } from './imaging/generator/v1/Adapter';
import type { GenerateRequest as _imaging_generator_v1_GenerateRequest, GenerateRequest__Output as _imaging_generator_v1_GenerateRequest__Output } from './imaging/generator/v1/GenerateRequest';
import type { GenerateResponse as _imaging_generator_v1_GenerateResponse, GenerateResponse__Output as _imaging_generator_v1_GenerateResponse__Output } from './imaging/generator/v1/GenerateResponse';
import type { GeneratedImage as _imaging_generator_v1_GeneratedImage, GeneratedImage__Output as _imaging_generator_v1_GeneratedImage__Output } from './imaging/generator/v1/GeneratedImage';
import type { GenerationSpec as _imaging_generator_v1_GenerationSpec, GenerationSpec__Output as _imaging_generator_v1_GenerationSpec__Output } from './imaging/generator/v1/GenerationSpec';
import type { GeneratorServiceClient as _imaging_generator_v1_GeneratorServiceClient, GeneratorServiceDefinition as _imaging_generator_v1_GeneratorServiceDefinition } from './imaging/generator/v1/GeneratorService';
import type { ListVariantsRequest as _imaging_generator_v1_ListVariantsRequest, ListVariantsRequest__Output as _imaging_generator_v1_ListVariantsRequest__Output } from './imaging/generator/v1/ListVariantsRequest';
import type { ListVariantsResponse as _imaging_generator_v1_ListVariantsResponse, ListVariantsResponse__Output as _imaging_generator_v1_ListVariantsResponse__Output } from './imaging/generator/v1/ListVariantsResponse';
import type { Pricing as _imaging_generator_v1_Pricing, Pricing__Output as _imaging_generator_v1_Pricing__Output } from './imaging/generator/v1/Pricing';
import type { QuoteRequest as _imaging_generator_v1_QuoteRequest, QuoteRequest__Output as _imaging_generator_v1_QuoteRequest__Output } from './imaging/generator/v1/QuoteRequest';
import type { QuoteResponse as _imaging_generator_v1_QuoteResponse, QuoteResponse__Output as _imaging_generator_v1_QuoteResponse__Output } from './imaging/generator/v1/QuoteResponse';
import type { StepProgress as _imaging_generator_v1_StepProgress, StepProgress__Output as _imaging_generator_v1_StepProgress__Output } from './imaging/generator/v1/StepProgress';
import type { StreamGenerateRequest as _imaging_generator_v1_StreamGenerateRequest, StreamGenerateRequest__Output as _imaging_generator_v1_StreamGenerateRequest__Output } from './imaging/generator/v1/StreamGenerateRequest';
import type { StreamGenerateResponse as _imaging_generator_v1_StreamGenerateResponse, StreamGenerateResponse__Output as _imaging_generator_v1_StreamGenerateResponse__Output } from './imaging/generator/v1/StreamGenerateResponse';
import type { Timings as _imaging_generator_v1_Timings, Timings__Output as _imaging_generator_v1_Timings__Output } from './imaging/generator/v1/Timings';
import type { Variant as _imaging_generator_v1_Variant, Variant__Output as _imaging_generator_v1_Variant__Output } from './imaging/generator/v1/Variant';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Duration: MessageTypeDefinition<_google_protobuf_Duration, _google_protobuf_Duration__Output>
    }
  }
  imaging: {
    common: {
      v1: {
        Cost: MessageTypeDefinition<_imaging_common_v1_Cost, _imaging_common_v1_Cost__Output>
        Image: MessageTypeDefinition<_imaging_common_v1_Image, _imaging_common_v1_Image__Output>
        ImageFormat: EnumTypeDefinition
        Usage: MessageTypeDefinition<_imaging_common_v1_Usage, _imaging_common_v1_Usage__Output>
      }
    }
    generator: {
      v1: {
        Adapter: MessageTypeDefinition<_imaging_generator_v1_Adapter, _imaging_generator_v1_Adapter__Output>
        Family: EnumTypeDefinition
        GenerateRequest: MessageTypeDefinition<_imaging_generator_v1_GenerateRequest, _imaging_generator_v1_GenerateRequest__Output>
        GenerateResponse: MessageTypeDefinition<_imaging_generator_v1_GenerateResponse, _imaging_generator_v1_GenerateResponse__Output>
        GeneratedImage: MessageTypeDefinition<_imaging_generator_v1_GeneratedImage, _imaging_generator_v1_GeneratedImage__Output>
        GenerationSpec: MessageTypeDefinition<_imaging_generator_v1_GenerationSpec, _imaging_generator_v1_GenerationSpec__Output>
        /**
         * Image generation on the FLUX architecture: named variants, chosen
         * resolution, reference images, step-by-step progress and a cost per image.
         */
        GeneratorService: SubtypeConstructor<typeof grpc.Client, _imaging_generator_v1_GeneratorServiceClient> & { service: _imaging_generator_v1_GeneratorServiceDefinition }
        ListVariantsRequest: MessageTypeDefinition<_imaging_generator_v1_ListVariantsRequest, _imaging_generator_v1_ListVariantsRequest__Output>
        ListVariantsResponse: MessageTypeDefinition<_imaging_generator_v1_ListVariantsResponse, _imaging_generator_v1_ListVariantsResponse__Output>
        Pricing: MessageTypeDefinition<_imaging_generator_v1_Pricing, _imaging_generator_v1_Pricing__Output>
        PricingModel: EnumTypeDefinition
        QuoteRequest: MessageTypeDefinition<_imaging_generator_v1_QuoteRequest, _imaging_generator_v1_QuoteRequest__Output>
        QuoteResponse: MessageTypeDefinition<_imaging_generator_v1_QuoteResponse, _imaging_generator_v1_QuoteResponse__Output>
        StepProgress: MessageTypeDefinition<_imaging_generator_v1_StepProgress, _imaging_generator_v1_StepProgress__Output>
        StreamGenerateRequest: MessageTypeDefinition<_imaging_generator_v1_StreamGenerateRequest, _imaging_generator_v1_StreamGenerateRequest__Output>
        StreamGenerateResponse: MessageTypeDefinition<_imaging_generator_v1_StreamGenerateResponse, _imaging_generator_v1_StreamGenerateResponse__Output>
        Timings: MessageTypeDefinition<_imaging_generator_v1_Timings, _imaging_generator_v1_Timings__Output>
        Variant: MessageTypeDefinition<_imaging_generator_v1_Variant, _imaging_generator_v1_Variant__Output>
      }
    }
  }
}

