// Original file: ../../protos/imaging/generator/v1/generator.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GenerateRequest as _imaging_generator_v1_GenerateRequest, GenerateRequest__Output as _imaging_generator_v1_GenerateRequest__Output } from '../../../imaging/generator/v1/GenerateRequest';
import type { GenerateResponse as _imaging_generator_v1_GenerateResponse, GenerateResponse__Output as _imaging_generator_v1_GenerateResponse__Output } from '../../../imaging/generator/v1/GenerateResponse';
import type { ListVariantsRequest as _imaging_generator_v1_ListVariantsRequest, ListVariantsRequest__Output as _imaging_generator_v1_ListVariantsRequest__Output } from '../../../imaging/generator/v1/ListVariantsRequest';
import type { ListVariantsResponse as _imaging_generator_v1_ListVariantsResponse, ListVariantsResponse__Output as _imaging_generator_v1_ListVariantsResponse__Output } from '../../../imaging/generator/v1/ListVariantsResponse';
import type { QuoteRequest as _imaging_generator_v1_QuoteRequest, QuoteRequest__Output as _imaging_generator_v1_QuoteRequest__Output } from '../../../imaging/generator/v1/QuoteRequest';
import type { QuoteResponse as _imaging_generator_v1_QuoteResponse, QuoteResponse__Output as _imaging_generator_v1_QuoteResponse__Output } from '../../../imaging/generator/v1/QuoteResponse';
import type { StreamGenerateRequest as _imaging_generator_v1_StreamGenerateRequest, StreamGenerateRequest__Output as _imaging_generator_v1_StreamGenerateRequest__Output } from '../../../imaging/generator/v1/StreamGenerateRequest';
import type { StreamGenerateResponse as _imaging_generator_v1_StreamGenerateResponse, StreamGenerateResponse__Output as _imaging_generator_v1_StreamGenerateResponse__Output } from '../../../imaging/generator/v1/StreamGenerateResponse';

/**
 * Image generation on the FLUX architecture: named variants, chosen
 * resolution, reference images, step-by-step progress and a cost per image.
 */
export interface GeneratorServiceClient extends grpc.Client {
  /**
   * Generates images and returns them when done.
   */
  Generate(argument: _imaging_generator_v1_GenerateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _imaging_generator_v1_GenerateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _imaging_generator_v1_GenerateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _imaging_generator_v1_GenerateRequest, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Generates images and returns them when done.
   */
  generate(argument: _imaging_generator_v1_GenerateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _imaging_generator_v1_GenerateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _imaging_generator_v1_GenerateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _imaging_generator_v1_GenerateRequest, callback: grpc.requestCallback<_imaging_generator_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Lists the variants this server serves, with their limits and prices.
   */
  ListVariants(argument: _imaging_generator_v1_ListVariantsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  ListVariants(argument: _imaging_generator_v1_ListVariantsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  ListVariants(argument: _imaging_generator_v1_ListVariantsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  ListVariants(argument: _imaging_generator_v1_ListVariantsRequest, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Lists the variants this server serves, with their limits and prices.
   */
  listVariants(argument: _imaging_generator_v1_ListVariantsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  listVariants(argument: _imaging_generator_v1_ListVariantsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  listVariants(argument: _imaging_generator_v1_ListVariantsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  listVariants(argument: _imaging_generator_v1_ListVariantsRequest, callback: grpc.requestCallback<_imaging_generator_v1_ListVariantsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Validates a spec as Generate would and prices it without generating: the
   * exact size, steps and cost. Free of charge through the gateway.
   */
  Quote(argument: _imaging_generator_v1_QuoteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  Quote(argument: _imaging_generator_v1_QuoteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  Quote(argument: _imaging_generator_v1_QuoteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  Quote(argument: _imaging_generator_v1_QuoteRequest, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Validates a spec as Generate would and prices it without generating: the
   * exact size, steps and cost. Free of charge through the gateway.
   */
  quote(argument: _imaging_generator_v1_QuoteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  quote(argument: _imaging_generator_v1_QuoteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  quote(argument: _imaging_generator_v1_QuoteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  quote(argument: _imaging_generator_v1_QuoteRequest, callback: grpc.requestCallback<_imaging_generator_v1_QuoteResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Generates images, sending a progress event per denoising step (with an
   * optional low-resolution preview) and then the result.
   */
  StreamGenerate(argument: _imaging_generator_v1_StreamGenerateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_generator_v1_StreamGenerateResponse__Output>;
  StreamGenerate(argument: _imaging_generator_v1_StreamGenerateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_generator_v1_StreamGenerateResponse__Output>;
  /**
   * Generates images, sending a progress event per denoising step (with an
   * optional low-resolution preview) and then the result.
   */
  streamGenerate(argument: _imaging_generator_v1_StreamGenerateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_generator_v1_StreamGenerateResponse__Output>;
  streamGenerate(argument: _imaging_generator_v1_StreamGenerateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_generator_v1_StreamGenerateResponse__Output>;
  
}

/**
 * Image generation on the FLUX architecture: named variants, chosen
 * resolution, reference images, step-by-step progress and a cost per image.
 */
export interface GeneratorServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Generates images and returns them when done.
   */
  Generate: grpc.handleUnaryCall<_imaging_generator_v1_GenerateRequest__Output, _imaging_generator_v1_GenerateResponse>;
  
  /**
   * Lists the variants this server serves, with their limits and prices.
   */
  ListVariants: grpc.handleUnaryCall<_imaging_generator_v1_ListVariantsRequest__Output, _imaging_generator_v1_ListVariantsResponse>;
  
  /**
   * Validates a spec as Generate would and prices it without generating: the
   * exact size, steps and cost. Free of charge through the gateway.
   */
  Quote: grpc.handleUnaryCall<_imaging_generator_v1_QuoteRequest__Output, _imaging_generator_v1_QuoteResponse>;
  
  /**
   * Generates images, sending a progress event per denoising step (with an
   * optional low-resolution preview) and then the result.
   */
  StreamGenerate: grpc.handleServerStreamingCall<_imaging_generator_v1_StreamGenerateRequest__Output, _imaging_generator_v1_StreamGenerateResponse>;
  
}

export interface GeneratorServiceDefinition extends grpc.ServiceDefinition {
  Generate: MethodDefinition<_imaging_generator_v1_GenerateRequest, _imaging_generator_v1_GenerateResponse, _imaging_generator_v1_GenerateRequest__Output, _imaging_generator_v1_GenerateResponse__Output>
  ListVariants: MethodDefinition<_imaging_generator_v1_ListVariantsRequest, _imaging_generator_v1_ListVariantsResponse, _imaging_generator_v1_ListVariantsRequest__Output, _imaging_generator_v1_ListVariantsResponse__Output>
  Quote: MethodDefinition<_imaging_generator_v1_QuoteRequest, _imaging_generator_v1_QuoteResponse, _imaging_generator_v1_QuoteRequest__Output, _imaging_generator_v1_QuoteResponse__Output>
  StreamGenerate: MethodDefinition<_imaging_generator_v1_StreamGenerateRequest, _imaging_generator_v1_StreamGenerateResponse, _imaging_generator_v1_StreamGenerateRequest__Output, _imaging_generator_v1_StreamGenerateResponse__Output>
}
