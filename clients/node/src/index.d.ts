import * as grpc from '@grpc/grpc-js';
import type { ProtoGrpcType as CaptionerProto } from '../generated/captioner';
import type { ProtoGrpcType as GatewayProto } from '../generated/gateway';
import type { ProtoGrpcType as GeneratorProto } from '../generated/generator';
import type { ProtoGrpcType as HealthProto } from '../generated/health';
import type { CaptionerServiceClient } from '../generated/imaging/captioner/v1/CaptionerService';
import type { AdminServiceClient } from '../generated/imaging/gateway/v1/AdminService';
import type { UsageServiceClient } from '../generated/imaging/gateway/v1/UsageService';
import type { GeneratorServiceClient } from '../generated/imaging/generator/v1/GeneratorService';
import type { HealthClient } from '../generated/grpc/health/v1/Health';
import type { Duration } from '../generated/google/protobuf/Duration';

export { grpc };
export type { CaptionerServiceClient, GeneratorServiceClient, UsageServiceClient, AdminServiceClient, HealthClient };

/** The service constructors and message definitions of every imaging proto, with grpc.health.v1. */
export type ImagingGrpc = CaptionerProto & GeneratorProto & GatewayProto & HealthProto;

/** proto-loader's options: keepCase, longs: String, enums: String, defaults, oneofs. */
export declare const LOADER_OPTIONS: Readonly<{
  keepCase: true;
  longs: StringConstructor;
  enums: StringConstructor;
  defaults: true;
  oneofs: true;
}>;
/** The .proto files loaded, relative to the include directories. */
export declare const PROTO_FILES: readonly string[];
export declare const REQUEST_ID_KEY: 'x-request-id';

export interface LoadOptions {
  /** The repository's protos/ directory. Default: $IMAGING_PROTOS_DIR, else ../../protos from the package. */
  protosDir?: string;
}

export interface Loaded {
  /** `grpc.imaging.captioner.v1.CaptionerService`, `grpc.grpc.health.v1.Health`, ... */
  grpc: ImagingGrpc;
  /** The protobufjs root the requests are checked against. */
  root: import('protobufjs').Root;
  protosDir: string;
}

/** Loads the protos (once per directory). */
export declare function load(options?: LoadOptions): Loaded;
/** The directories imports resolve against: protos/, the vendored google/rpc protos, grpc-health-check's. */
export declare function includeDirs(protosDir?: string): string[];
export declare function defaultProtosDir(): string;

export interface ConnectOptions extends LoadOptions {
  /** Sent as `authorization: Bearer <key>` unless a call's metadata has a credential. */
  apiKey?: string;
  /** Default: insecure (plaintext). `grpc.credentials.createSsl()` for TLS. */
  credentials?: grpc.ChannelCredentials;
  /** The deadline of calls that set none, from their start. Default 60000; 0: none. */
  timeoutMs?: number;
  /** Checks each request before sending it (unknown fields, enum names, int64 precision). Default true. */
  validate?: boolean;
  channelOptions?: grpc.ChannelOptions;
}

export interface ImagingClients {
  captioner: CaptionerServiceClient;
  generator: GeneratorServiceClient;
  /** The gateway's own usage service (the calling key's usage). */
  usage: UsageServiceClient;
  /** The gateway's admin service; connect with the admin token as `apiKey`. */
  admin: AdminServiceClient;
  health: HealthClient;
  /** Closes the channel the clients share. */
  close(): void;
}

/** Clients of every imaging service on one channel to `address` ("host:port"). */
export declare function connect(address: string, options?: ConnectOptions): ImagingClients;

type UnaryMethod<Req, Res> = (argument: Req, callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;
/** The names of a client's unary methods (`'Caption'`, `'caption'`, ...). */
export type UnaryMethodName<C> = {
  [K in keyof C]: C[K] extends UnaryMethod<any, any> ? K : never;
}[keyof C];
export type RequestOf<F> = F extends UnaryMethod<infer Req, any> ? Req : never;
export type ResponseOf<F> = F extends UnaryMethod<any, infer Res> ? Res : never;

export interface UnaryOptions extends grpc.CallOptions {
  metadata?: grpc.Metadata;
}

export interface UnaryReply<Res> {
  response: Res;
  /** The server's x-request-id for the call. */
  requestId: string;
}

/** A unary call as a promise; rejects with the call's grpc.ServiceError. */
export declare function unary<C, K extends UnaryMethodName<C>>(
  client: C,
  method: K,
  request: RequestOf<C[K]>,
  options?: UnaryOptions,
): Promise<UnaryReply<ResponseOf<C[K]>>>;

/**
 * Checks a request object against a message type ('imaging.generator.v1.GenerateRequest');
 * throws a TypeError (with `field` and `description`) naming the first field that
 * proto-loader would silently drop or change. Returns the request.
 */
export declare function checkRequest<T>(typeName: string, request: T, options?: LoadOptions): T;

export interface FieldViolation {
  /** The field's path, for example "images[0].data" or "spec.width_px". */
  field: string;
  description: string;
}

export interface QuotaViolation {
  subject: string;
  description: string;
}

export interface ErrorDetails {
  /** The gRPC status code, for example 3. */
  code: grpc.status;
  /** Its name, for example "INVALID_ARGUMENT". */
  codeName: string;
  message: string;
  /** ErrorInfo.reason, UPPER_SNAKE ("API_KEY_UNKNOWN", "RATE_LIMITED"); "" when none came. */
  reason: string;
  /** ErrorInfo.domain: "imaging.serving" from the servers, "imaging.client" for a request this client refused to send. */
  domain: string;
  /** ErrorInfo.metadata. */
  metadata: Record<string, string>;
  /** BadRequest.field_violations. */
  fieldViolations: FieldViolation[];
  /** RetryInfo.retry_delay in milliseconds; null without RetryInfo (no retry helps, e.g. a used-up quota). */
  retryDelayMs: number | null;
  /** QuotaFailure.violations. */
  quotaViolations: QuotaViolation[];
  /** The server's x-request-id for the call; "" when it never reached one. */
  requestId: string;
}

/** Decodes a failed call's status and its google.rpc details (grpc-status-details-bin). */
export declare function errorDetails(error: unknown): ErrorDetails;

/** The x-request-id of a call (unary or streaming), from its initial metadata; "" if none came. */
export declare function requestIdOf(call: grpc.ClientUnaryCall | grpc.ClientReadableStream<unknown>): Promise<string>;
/** The x-request-id in a grpc.Metadata; "" when absent. */
export declare function requestIdFrom(metadata: grpc.Metadata | null | undefined): string;
/** A google.protobuf.Duration (seconds as a decimal string) in milliseconds. */
export declare function durationMs(duration: Duration | null | undefined): number;
