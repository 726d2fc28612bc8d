// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetUsageRequest as _imaging_gateway_v1_GetUsageRequest, GetUsageRequest__Output as _imaging_gateway_v1_GetUsageRequest__Output } from '../../../imaging/gateway/v1/GetUsageRequest';
import type { GetUsageResponse as _imaging_gateway_v1_GetUsageResponse, GetUsageResponse__Output as _imaging_gateway_v1_GetUsageResponse__Output } from '../../../imaging/gateway/v1/GetUsageResponse';

/**
 * The calling key's own usage and remaining quota.
 */
export interface UsageServiceClient extends grpc.Client {
  /**
   * Returns the calling key's usage in the current quota period and what is
   * left of its quota.
   */
  GetUsage(argument: _imaging_gateway_v1_GetUsageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  GetUsage(argument: _imaging_gateway_v1_GetUsageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  GetUsage(argument: _imaging_gateway_v1_GetUsageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  GetUsage(argument: _imaging_gateway_v1_GetUsageRequest, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Returns the calling key's usage in the current quota period and what is
   * left of its quota.
   */
  getUsage(argument: _imaging_gateway_v1_GetUsageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _imaging_gateway_v1_GetUsageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _imaging_gateway_v1_GetUsageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  getUsage(argument: _imaging_gateway_v1_GetUsageRequest, callback: grpc.requestCallback<_imaging_gateway_v1_GetUsageResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * The calling key's own usage and remaining quota.
 */
export interface UsageServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Returns the calling key's usage in the current quota period and what is
   * left of its quota.
   */
  GetUsage: grpc.handleUnaryCall<_imaging_gateway_v1_GetUsageRequest__Output, _imaging_gateway_v1_GetUsageResponse>;
  
}

export interface UsageServiceDefinition extends grpc.ServiceDefinition {
  GetUsage: MethodDefinition<_imaging_gateway_v1_GetUsageRequest, _imaging_gateway_v1_GetUsageResponse, _imaging_gateway_v1_GetUsageRequest__Output, _imaging_gateway_v1_GetUsageResponse__Output>
}
