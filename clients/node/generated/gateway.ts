import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { Duration as _google_protobuf_Duration, Duration__Output as _google_protobuf_Duration__Output } from './google/protobuf/Duration';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from './google/protobuf/Timestamp';
import type { Cost as _imaging_common_v1_Cost, Cost__Output as _imaging_common_v1_Cost__Output } from './imaging/common/v1/Cost';
import type { Image as _imaging_common_v1_Image, Image__Output as _imaging_common_v1_Image__Output } from './imaging/common/v1/Image';
import type { Usage as _imaging_common_v1_Usage, Usage__Output as _imaging_common_v1_Usage__Output } from './imaging/common/v1/Usage';
import type { AdminServiceClient as _imaging_gateway_v1_AdminServiceClient, AdminServiceDefinition as _imaging_gateway_v1_AdminServiceDefinition } from './imaging/gateway/v1/AdminService';
import type { ApiKey as _imaging_gateway_v1_ApiKey, ApiKey__Output as _imaging_gateway_v1_ApiKey__Output } from './imaging/gateway/v1/ApiKey';
import type { AuditEvent as _imaging_gateway_v1_AuditEvent, AuditEvent__Output as _imaging_gateway_v1_AuditEvent__Output } from './imaging/gateway/v1/AuditEvent';
import type { CreateApiKeyRequest as _imaging_gateway_v1_CreateApiKeyRequest, CreateApiKeyRequest__Output as _imaging_gateway_v1_CreateApiKeyRequest__Output } from './imaging/gateway/v1/CreateApiKeyRequest';
import type { CreateApiKeyResponse as _imaging_gateway_v1_CreateApiKeyResponse, CreateApiKeyResponse__Output as _imaging_gateway_v1_CreateApiKeyResponse__Output } from './imaging/gateway/v1/CreateApiKeyResponse';
import type { ExportUsageRequest as _imaging_gateway_v1_ExportUsageRequest, ExportUsageRequest__Output as _imaging_gateway_v1_ExportUsageRequest__Output } from './imaging/gateway/v1/ExportUsageRequest';
import type { ExportUsageResponse as _imaging_gateway_v1_ExportUsageResponse, ExportUsageResponse__Output as _imaging_gateway_v1_ExportUsageResponse__Output } from './imaging/gateway/v1/ExportUsageResponse';
import type { GetUsageRequest as _imaging_gateway_v1_GetUsageRequest, GetUsageRequest__Output as _imaging_gateway_v1_GetUsageRequest__Output } from './imaging/gateway/v1/GetUsageRequest';
import type { GetUsageResponse as _imaging_gateway_v1_GetUsageResponse, GetUsageResponse__Output as _imaging_gateway_v1_GetUsageResponse__Output } from './imaging/gateway/v1/GetUsageResponse';
import type { ListApiKeysRequest as _imaging_gateway_v1_ListApiKeysRequest, ListApiKeysRequest__Output as _imaging_gateway_v1_ListApiKeysRequest__Output } from './imaging/gateway/v1/ListApiKeysRequest';
import type { ListApiKeysResponse as _imaging_gateway_v1_ListApiKeysResponse, ListApiKeysResponse__Output as _imaging_gateway_v1_ListApiKeysResponse__Output } from './imaging/gateway/v1/ListApiKeysResponse';
import type { ListAuditEventsRequest as _imaging_gateway_v1_ListAuditEventsRequest, ListAuditEventsRequest__Output as _imaging_gateway_v1_ListAuditEventsRequest__Output } from './imaging/gateway/v1/ListAuditEventsRequest';
import type { ListAuditEventsResponse as _imaging_gateway_v1_ListAuditEventsResponse, ListAuditEventsResponse__Output as _imaging_gateway_v1_ListAuditEventsResponse__Output } from './imaging/gateway/v1/ListAuditEventsResponse';
import type { Quota as _imaging_gateway_v1_Quota, Quota__Output as _imaging_gateway_v1_Quota__Output } from './imaging/gateway/v1/Quota';
import type { RevokeApiKeyRequest as _imaging_gateway_v1_RevokeApiKeyRequest, RevokeApiKeyRequest__Output as _imaging_gateway_v1_RevokeApiKeyRequest__Output } from './imaging/gateway/v1/RevokeApiKeyRequest';
import type { RevokeApiKeyResponse as _imaging_gateway_v1_RevokeApiKeyResponse, RevokeApiKeyResponse__Output as _imaging_gateway_v1_RevokeApiKeyResponse__Output } from './imaging/gateway/v1/RevokeApiKeyResponse';
import type { RotateApiKeyRequest as _imaging_gateway_v1_RotateApiKeyRequest, RotateApiKeyRequest__Output as _imaging_gateway_v1_RotateApiKeyRequest__Output } from './imaging/gateway/v1/RotateApiKeyRequest';
import type { RotateApiKeyResponse as _imaging_gateway_v1_RotateApiKeyResponse, RotateApiKeyResponse__Output as _imaging_gateway_v1_RotateApiKeyResponse__Output } from './imaging/gateway/v1/RotateApiKeyResponse';
import type { SetQuotaRequest as _imaging_gateway_v1_SetQuotaRequest, SetQuotaRequest__Output as _imaging_gateway_v1_SetQuotaRequest__Output } from './imaging/gateway/v1/SetQuotaRequest';
import type { SetQuotaResponse as _imaging_gateway_v1_SetQuotaResponse, SetQuotaResponse__Output as _imaging_gateway_v1_SetQuotaResponse__Output } from './imaging/gateway/v1/SetQuotaResponse';
import type { UsageBreakdown as _imaging_gateway_v1_UsageBreakdown, UsageBreakdown__Output as _imaging_gateway_v1_UsageBreakdown__Output } from './imaging/gateway/v1/UsageBreakdown';
import type { UsageRecord as _imaging_gateway_v1_UsageRecord, UsageRecord__Output as _imaging_gateway_v1_UsageRecord__Output } from './imaging/gateway/v1/UsageRecord';
import type { UsageServiceClient as _imaging_gateway_v1_UsageServiceClient, UsageServiceDefinition as _imaging_gateway_v1_UsageServiceDefinition } from './imaging/gateway/v1/UsageService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Duration: MessageTypeDefinition<_google_protobuf_Duration, _google_protobuf_Duration__Output>
      Timestamp: MessageTypeDefinition<_google_protobuf_Timestamp, _google_protobuf_Timestamp__Output>
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
    gateway: {
      v1: {
        /**
         * Key and quota administration, guarded by the admin credential (sent in
         * `authorization: Bearer <admin token>`).
         */
        AdminService: SubtypeConstructor<typeof grpc.Client, _imaging_gateway_v1_AdminServiceClient> & { service: _imaging_gateway_v1_AdminServiceDefinition }
        ApiKey: MessageTypeDefinition<_imaging_gateway_v1_ApiKey, _imaging_gateway_v1_ApiKey__Output>
        ApiKeyState: EnumTypeDefinition
        AuditEvent: MessageTypeDefinition<_imaging_gateway_v1_AuditEvent, _imaging_gateway_v1_AuditEvent__Output>
        CreateApiKeyRequest: MessageTypeDefinition<_imaging_gateway_v1_CreateApiKeyRequest, _imaging_gateway_v1_CreateApiKeyRequest__Output>
        CreateApiKeyResponse: MessageTypeDefinition<_imaging_gateway_v1_CreateApiKeyResponse, _imaging_gateway_v1_CreateApiKeyResponse__Output>
        ExportUsageRequest: MessageTypeDefinition<_imaging_gateway_v1_ExportUsageRequest, _imaging_gateway_v1_ExportUsageRequest__Output>
        ExportUsageResponse: MessageTypeDefinition<_imaging_gateway_v1_ExportUsageResponse, _imaging_gateway_v1_ExportUsageResponse__Output>
        GetUsageRequest: MessageTypeDefinition<_imaging_gateway_v1_GetUsageRequest, _imaging_gateway_v1_GetUsageRequest__Output>
        GetUsageResponse: MessageTypeDefinition<_imaging_gateway_v1_GetUsageResponse, _imaging_gateway_v1_GetUsageResponse__Output>
        ListApiKeysRequest: MessageTypeDefinition<_imaging_gateway_v1_ListApiKeysRequest, _imaging_gateway_v1_ListApiKeysRequest__Output>
        ListApiKeysResponse: MessageTypeDefinition<_imaging_gateway_v1_ListApiKeysResponse, _imaging_gateway_v1_ListApiKeysResponse__Output>
        ListAuditEventsRequest: MessageTypeDefinition<_imaging_gateway_v1_ListAuditEventsRequest, _imaging_gateway_v1_ListAuditEventsRequest__Output>
        ListAuditEventsResponse: MessageTypeDefinition<_imaging_gateway_v1_ListAuditEventsResponse, _imaging_gateway_v1_ListAuditEventsResponse__Output>
        Quota: MessageTypeDefinition<_imaging_gateway_v1_Quota, _imaging_gateway_v1_Quota__Output>
        RevokeApiKeyRequest: MessageTypeDefinition<_imaging_gateway_v1_RevokeApiKeyRequest, _imaging_gateway_v1_RevokeApiKeyRequest__Output>
        RevokeApiKeyResponse: MessageTypeDefinition<_imaging_gateway_v1_RevokeApiKeyResponse, _imaging_gateway_v1_RevokeApiKeyResponse__Output>
        RotateApiKeyRequest: MessageTypeDefinition<_imaging_gateway_v1_RotateApiKeyRequest, _imaging_gateway_v1_RotateApiKeyRequest__Output>
        RotateApiKeyResponse: MessageTypeDefinition<_imaging_gateway_v1_RotateApiKeyResponse, _imaging_gateway_v1_RotateApiKeyResponse__Output>
        SetQuotaRequest: MessageTypeDefinition<_imaging_gateway_v1_SetQuotaRequest, _imaging_gateway_v1_SetQuotaRequest__Output>
        SetQuotaResponse: MessageTypeDefinition<_imaging_gateway_v1_SetQuotaResponse, _imaging_gateway_v1_SetQuotaResponse__Output>
        UsageBreakdown: MessageTypeDefinition<_imaging_gateway_v1_UsageBreakdown, _imaging_gateway_v1_UsageBreakdown__Output>
        UsageRecord: MessageTypeDefinition<_imaging_gateway_v1_UsageRecord, _imaging_gateway_v1_UsageRecord__Output>
        /**
         * The calling key's own usage and remaining quota.
         */
        UsageService: SubtypeConstructor<typeof grpc.Client, _imaging_gateway_v1_UsageServiceClient> & { service: _imaging_gateway_v1_UsageServiceDefinition }
      }
    }
  }
}

