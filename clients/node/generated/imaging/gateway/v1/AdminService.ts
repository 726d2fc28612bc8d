// Original file: ../../protos/imaging/gateway/v1/gateway.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CreateApiKeyRequest as _imaging_gateway_v1_CreateApiKeyRequest, CreateApiKeyRequest__Output as _imaging_gateway_v1_CreateApiKeyRequest__Output } from '../../../imaging/gateway/v1/CreateApiKeyRequest';
import type { CreateApiKeyResponse as _imaging_gateway_v1_CreateApiKeyResponse, CreateApiKeyResponse__Output as _imaging_gateway_v1_CreateApiKeyResponse__Output } from '../../../imaging/gateway/v1/CreateApiKeyResponse';
import type { ExportUsageRequest as _imaging_gateway_v1_ExportUsageRequest, ExportUsageRequest__Output as _imaging_gateway_v1_ExportUsageRequest__Output } from '../../../imaging/gateway/v1/ExportUsageRequest';
import type { ExportUsageResponse as _imaging_gateway_v1_ExportUsageResponse, ExportUsageResponse__Output as _imaging_gateway_v1_ExportUsageResponse__Output } from '../../../imaging/gateway/v1/ExportUsageResponse';
import type { ListApiKeysRequest as _imaging_gateway_v1_ListApiKeysRequest, ListApiKeysRequest__Output as _imaging_gateway_v1_ListApiKeysRequest__Output } from '../../../imaging/gateway/v1/ListApiKeysRequest';
import type { ListApiKeysResponse as _imaging_gateway_v1_ListApiKeysResponse, ListApiKeysResponse__Output as _imaging_gateway_v1_ListApiKeysResponse__Output } from '../../../imaging/gateway/v1/ListApiKeysResponse';
import type { ListAuditEventsRequest as _imaging_gateway_v1_ListAuditEventsRequest, ListAuditEventsRequest__Output as _imaging_gateway_v1_ListAuditEventsRequest__Output } from '../../../imaging/gateway/v1/ListAuditEventsRequest';
import type { ListAuditEventsResponse as _imaging_gateway_v1_ListAuditEventsResponse, ListAuditEventsResponse__Output as _imaging_gateway_v1_ListAuditEventsResponse__Output } from '../../../imaging/gateway/v1/ListAuditEventsResponse';
import type { RevokeApiKeyRequest as _imaging_gateway_v1_RevokeApiKeyRequest, RevokeApiKeyRequest__Output as _imaging_gateway_v1_RevokeApiKeyRequest__Output } from '../../../imaging/gateway/v1/RevokeApiKeyRequest';
import type { RevokeApiKeyResponse as _imaging_gateway_v1_RevokeApiKeyResponse, RevokeApiKeyResponse__Output as _imaging_gateway_v1_RevokeApiKeyResponse__Output } from '../../../imaging/gateway/v1/RevokeApiKeyResponse';
import type { RotateApiKeyRequest as _imaging_gateway_v1_RotateApiKeyRequest, RotateApiKeyRequest__Output as _imaging_gateway_v1_RotateApiKeyRequest__Output } from '../../../imaging/gateway/v1/RotateApiKeyRequest';
import type { RotateApiKeyResponse as _imaging_gateway_v1_RotateApiKeyResponse, RotateApiKeyResponse__Output as _imaging_gateway_v1_RotateApiKeyResponse__Output } from '../../../imaging/gateway/v1/RotateApiKeyResponse';
import type { SetQuotaRequest as _imaging_gateway_v1_SetQuotaRequest, SetQuotaRequest__Output as _imaging_gateway_v1_SetQuotaRequest__Output } from '../../../imaging/gateway/v1/SetQuotaRequest';
import type { SetQuotaResponse as _imaging_gateway_v1_SetQuotaResponse, SetQuotaResponse__Output as _imaging_gateway_v1_SetQuotaResponse__Output } from '../../../imaging/gateway/v1/SetQuotaResponse';

/**
 * Key and quota administration, guarded by the admin credential (sent in
 * `authorization: Bearer <admin token>`).
 */
export interface AdminServiceClient extends grpc.Client {
  /**
   * Creates an API key; the secret is returned once, here.
   */
  CreateApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  CreateApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  CreateApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  CreateApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Creates an API key; the secret is returned once, here.
   */
  createApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  createApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  createApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  createApiKey(argument: _imaging_gateway_v1_CreateApiKeyRequest, callback: grpc.requestCallback<_imaging_gateway_v1_CreateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Streams usage records in a time range, oldest first, for billing export.
   */
  ExportUsage(argument: _imaging_gateway_v1_ExportUsageRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_gateway_v1_ExportUsageResponse__Output>;
  ExportUsage(argument: _imaging_gateway_v1_ExportUsageRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_gateway_v1_ExportUsageResponse__Output>;
  /**
   * Streams usage records in a time range, oldest first, for billing export.
   */
  exportUsage(argument: _imaging_gateway_v1_ExportUsageRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_gateway_v1_ExportUsageResponse__Output>;
  exportUsage(argument: _imaging_gateway_v1_ExportUsageRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_imaging_gateway_v1_ExportUsageResponse__Output>;
  
  /**
   * Lists API keys, newest first, without their secrets.
   */
  ListApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  ListApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  ListApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  ListApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Lists API keys, newest first, without their secrets.
   */
  listApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  listApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  listApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  listApiKeys(argument: _imaging_gateway_v1_ListApiKeysRequest, callback: grpc.requestCallback<_imaging_gateway_v1_ListApiKeysResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Lists the append-only audit log of key changes, newest first. Entries
   * carry the admin's identity and never any key material.
   */
  ListAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  ListAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  ListAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  ListAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Lists the append-only audit log of key changes, newest first. Entries
   * carry the admin's identity and never any key material.
   */
  listAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  listAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  listAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  listAuditEvents(argument: _imaging_gateway_v1_ListAuditEventsRequest, callback: grpc.requestCallback<_imaging_gateway_v1_ListAuditEventsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Revokes an API key; calls with it are then UNAUTHENTICATED.
   */
  RevokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  RevokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  RevokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  RevokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Revokes an API key; calls with it are then UNAUTHENTICATED.
   */
  revokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  revokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  revokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  revokeApiKey(argument: _imaging_gateway_v1_RevokeApiKeyRequest, callback: grpc.requestCallback<_imaging_gateway_v1_RevokeApiKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Replaces a key's secret, keeping its id, plan and usage; the old secret
   * stops working at once, or after the request's grace period.
   */
  RotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  RotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Replaces a key's secret, keeping its id, plan and usage; the old secret
   * stops working at once, or after the request's grace period.
   */
  rotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  rotateApiKey(argument: _imaging_gateway_v1_RotateApiKeyRequest, callback: grpc.requestCallback<_imaging_gateway_v1_RotateApiKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Sets a key's plan and quota.
   */
  SetQuota(argument: _imaging_gateway_v1_SetQuotaRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  SetQuota(argument: _imaging_gateway_v1_SetQuotaRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  SetQuota(argument: _imaging_gateway_v1_SetQuotaRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  SetQuota(argument: _imaging_gateway_v1_SetQuotaRequest, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Sets a key's plan and quota.
   */
  setQuota(argument: _imaging_gateway_v1_SetQuotaRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  setQuota(argument: _imaging_gateway_v1_SetQuotaRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  setQuota(argument: _imaging_gateway_v1_SetQuotaRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  setQuota(argument: _imaging_gateway_v1_SetQuotaRequest, callback: grpc.requestCallback<_imaging_gateway_v1_SetQuotaResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Key and quota administration, guarded by the admin credential (sent in
 * `authorization: Bearer <admin token>`).
 */
export interface AdminServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Creates an API key; the secret is returned once, here.
   */
  CreateApiKey: grpc.handleUnaryCall<_imaging_gateway_v1_CreateApiKeyRequest__Output, _imaging_gateway_v1_CreateApiKeyResponse>;
  
  /**
   * Streams usage records in a time range, oldest first, for billing export.
   */
  ExportUsage: grpc.handleServerStreamingCall<_imaging_gateway_v1_ExportUsageRequest__Output, _imaging_gateway_v1_ExportUsageResponse>;
  
  /**
   * Lists API keys, newest first, without their secrets.
   */
  ListApiKeys: grpc.handleUnaryCall<_imaging_gateway_v1_ListApiKeysRequest__Output, _imaging_gateway_v1_ListApiKeysResponse>;
  
  /**
   * Lists the append-only audit log of key changes, newest first. Entries
   * carry the admin's identity and never any key material.
   */
  ListAuditEvents: grpc.handleUnaryCall<_imaging_gateway_v1_ListAuditEventsRequest__Output, _imaging_gateway_v1_ListAuditEventsResponse>;
  
  /**
   * Revokes an API key; calls with it are then UNAUTHENTICATED.
   */
  RevokeApiKey: grpc.handleUnaryCall<_imaging_gateway_v1_RevokeApiKeyRequest__Output, _imaging_gateway_v1_RevokeApiKeyResponse>;
  
  /**
   * Replaces a key's secret, keeping its id, plan and usage; the old secret
   * stops working at once, or after the request's grace period.
   */
  RotateApiKey: grpc.handleUnaryCall<_imaging_gateway_v1_RotateApiKeyRequest__Output, _imaging_gateway_v1_RotateApiKeyResponse>;
  
  /**
   * Sets a key's plan and quota.
   */
  SetQuota: grpc.handleUnaryCall<_imaging_gateway_v1_SetQuotaRequest__Output, _imaging_gateway_v1_SetQuotaResponse>;
  
}

export interface AdminServiceDefinition extends grpc.ServiceDefinition {
  CreateApiKey: MethodDefinition<_imaging_gateway_v1_CreateApiKeyRequest, _imaging_gateway_v1_CreateApiKeyResponse, _imaging_gateway_v1_CreateApiKeyRequest__Output, _imaging_gateway_v1_CreateApiKeyResponse__Output>
  ExportUsage: MethodDefinition<_imaging_gateway_v1_ExportUsageRequest, _imaging_gateway_v1_ExportUsageResponse, _imaging_gateway_v1_ExportUsageRequest__Output, _imaging_gateway_v1_ExportUsageResponse__Output>
  ListApiKeys: MethodDefinition<_imaging_gateway_v1_ListApiKeysRequest, _imaging_gateway_v1_ListApiKeysResponse, _imaging_gateway_v1_ListApiKeysRequest__Output, _imaging_gateway_v1_ListApiKeysResponse__Output>
  ListAuditEvents: MethodDefinition<_imaging_gateway_v1_ListAuditEventsRequest, _imaging_gateway_v1_ListAuditEventsResponse, _imaging_gateway_v1_ListAuditEventsRequest__Output, _imaging_gateway_v1_ListAuditEventsResponse__Output>
  RevokeApiKey: MethodDefinition<_imaging_gateway_v1_RevokeApiKeyRequest, _imaging_gateway_v1_RevokeApiKeyResponse, _imaging_gateway_v1_RevokeApiKeyRequest__Output, _imaging_gateway_v1_RevokeApiKeyResponse__Output>
  RotateApiKey: MethodDefinition<_imaging_gateway_v1_RotateApiKeyRequest, _imaging_gateway_v1_RotateApiKeyResponse, _imaging_gateway_v1_RotateApiKeyRequest__Output, _imaging_gateway_v1_RotateApiKeyResponse__Output>
  SetQuota: MethodDefinition<_imaging_gateway_v1_SetQuotaRequest, _imaging_gateway_v1_SetQuotaResponse, _imaging_gateway_v1_SetQuotaRequest__Output, _imaging_gateway_v1_SetQuotaResponse__Output>
}
