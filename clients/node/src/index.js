'use strict';
// The imaging services from Node.js: @grpc/grpc-js clients on the repository's
// .proto files, loaded at run time by @grpc/proto-loader. Types: index.d.ts and
// ../generated (proto-loader-gen-types, `npm run gen`).

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const REQUEST_ID_KEY = 'x-request-id';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const CLIENT_ERROR_DOMAIN = 'imaging.client';

// How messages become JavaScript objects, for the calls and for the generated types.
// keepCase: fields keep their .proto names (`max_new_tokens`), as in the protos, the
//   Python stubs and the servers' field violations (`decoding.max_new_tokens`).
// longs: String: int64 fields arrive as decimal strings, exact up to 2^63 - 1 (a
//   Number loses digits above 2^53: a seed would silently change).
// enums: String: enum fields arrive as their names ('DECODING_STRATEGY_GREEDY').
// defaults: unset fields arrive with their zero values (unset messages as null).
// oneofs: a oneof's name holds the name of the field that is set (`event: 'token'`).
const LOADER_OPTIONS = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

const IMAGING_PROTO_FILES = Object.freeze([
  'imaging/common/v1/common.proto',
  'imaging/captioner/v1/captioner.proto',
  'imaging/generator/v1/generator.proto',
  'imaging/gateway/v1/gateway.proto',
]);
const HEALTH_PROTO_FILE = 'health/v1/health.proto';
const RPC_PROTO_FILES = Object.freeze(['google/rpc/status.proto', 'google/rpc/error_details.proto']);

// google/rpc/{status,error_details}.proto, vendored with their licence.
const VENDORED_PROTOS_DIR = path.resolve(__dirname, '..', 'protos');

/** The repository's protos/ directory: the option, else $IMAGING_PROTOS_DIR, else ../../protos. */
function defaultProtosDir() {
  return process.env.IMAGING_PROTOS_DIR || path.resolve(__dirname, '..', '..', '..', 'protos');
}

/** grpc.health.v1's proto as the grpc-health-check package ships it. */
function healthProtosDir() {
  return path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto');
}

/** The directories that imports resolve against, in order. */
function includeDirs(protosDir = defaultProtosDir()) {
  if (!fs.existsSync(path.join(protosDir, IMAGING_PROTO_FILES[0]))) {
    throw new Error(
      `no imaging protos under ${protosDir}: pass {protosDir} or set IMAGING_PROTOS_DIR to the repository's protos/ directory`,
    );
  }
  return [protosDir, VENDORED_PROTOS_DIR, healthProtosDir()];
}

const PROTO_FILES = Object.freeze([...IMAGING_PROTO_FILES, HEALTH_PROTO_FILE, ...RPC_PROTO_FILES]);

function loadRoot(dirs, files) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/*.proto: protobufjs has them built in
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

const loaded = new Map();

/**
 * Loads the protos once per directory: `grpc` holds the service constructors
 * (`grpc.imaging.captioner.v1.CaptionerService`, `grpc.grpc.health.v1.Health`),
 * `root` the protobufjs types the requests are checked against.
 */
function load(options = {}) {
  const protosDir = path.resolve(options.protosDir || defaultProtosDir());
  let result = loaded.get(protosDir);
  if (!result) {
    const dirs = includeDirs(protosDir);
    const definition = protoLoader.loadSync([...PROTO_FILES], { ...LOADER_OPTIONS, includeDirs: dirs });
    result = { grpc: grpc.loadPackageDefinition(definition), root: loadRoot(dirs, PROTO_FILES), protosDir };
    loaded.set(protosDir, result);
  }
  return result;
}

let rpcRoot = null;
function rpcTypes() {
  rpcRoot = rpcRoot || loadRoot([VENDORED_PROTOS_DIR], RPC_PROTO_FILES);
  return rpcRoot;
}

// ---------------------------------------------------------------- request checks

const INT32_TYPES = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32_TYPES = new Set(['uint32', 'fixed32']);
const INT64_TYPES = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64_TYPES = new Set(['uint64', 'fixed64']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

class RequestProblem extends Error {
  constructor(field, description) {
    super(`${field}: ${description}`);
    this.field = field;
    this.description = description;
  }
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function snakeCase(name) {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function checkInteger(value, field, min, max, type) {
  let big;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new RequestProblem(field, `${type} expected, got ${value}`);
    if (!Number.isSafeInteger(value)) {
      throw new RequestProblem(
        field,
        `${value} is beyond 2^53 as a JavaScript number and has already lost digits: pass ${type} values as decimal strings`,
      );
    }
    big = BigInt(value);
  } else if (typeof value === 'bigint') {
    big = value;
  } else if (typeof value === 'string' && /^-?\d+$/.test(value)) {
    big = BigInt(value);
  } else if (value && typeof value === 'object' && Number.isInteger(value.low) && Number.isInteger(value.high)) {
    return; // a Long
  } else {
    throw new RequestProblem(field, `${type} expected (a decimal string or an integer), got ${JSON.stringify(value)}`);
  }
  if (big < min || big > max) throw new RequestProblem(field, `${value} is outside the ${type} range ${min} to ${max}`);
}

function checkScalar(fieldType, value, field) {
  if (INT32_TYPES.has(fieldType) || UINT32_TYPES.has(fieldType)) {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw new RequestProblem(field, `${fieldType} expected (an integer number), got ${JSON.stringify(value)}`);
    }
    const [min, max] = UINT32_TYPES.has(fieldType) ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
    if (value < min || value > max) throw new RequestProblem(field, `${value} is outside the ${fieldType} range`);
  } else if (INT64_TYPES.has(fieldType)) {
    checkInteger(value, field, INT64_MIN, INT64_MAX, fieldType);
  } else if (UINT64_TYPES.has(fieldType)) {
    checkInteger(value, field, 0n, UINT64_MAX, fieldType);
  } else if (fieldType === 'double' || fieldType === 'float') {
    const ok = typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)));
    if (!ok && !['NaN', 'Infinity', '-Infinity'].includes(value)) {
      throw new RequestProblem(field, `${fieldType} expected (a number), got ${JSON.stringify(value)}`);
    }
  } else if (fieldType === 'bool') {
    if (typeof value !== 'boolean') throw new RequestProblem(field, `bool expected, got ${JSON.stringify(value)}`);
  } else if (fieldType === 'string') {
    if (typeof value !== 'string') throw new RequestProblem(field, `string expected, got ${JSON.stringify(value)}`);
  } else if (fieldType === 'bytes') {
    const ok = value instanceof Uint8Array || (typeof value === 'string' && BASE64.test(value));
    if (!ok) throw new RequestProblem(field, 'bytes expected (a Buffer or Uint8Array, or a base64 string)');
  }
}

function checkValue(field, value, path) {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    if (typeof value === 'string' ? !(value in resolved.values) : !Object.values(resolved.values).includes(value)) {
      const names = Object.keys(resolved.values).join(', ');
      throw new RequestProblem(path, `${JSON.stringify(value)} is not a value of ${resolved.fullName.slice(1)}; use one of ${names}`);
    }
  } else if (resolved instanceof protobuf.Type) {
    checkMessage(resolved, value, path);
  } else {
    checkScalar(field.type, value, path);
  }
}

function checkMessage(type, message, prefix) {
  const where = prefix || 'request';
  if (!isPlainObject(message)) {
    throw new RequestProblem(where, `an object (${type.fullName.slice(1)}) expected, got ${JSON.stringify(message)}`);
  }
  if (type.fullName === '.google.protobuf.Any') return; // packed: checked where it is built
  for (const [key, value] of Object.entries(message)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value === undefined || value === null) continue; // unset
    const field = type.fields[key];
    if (!field) {
      const oneof = type.oneofs && type.oneofs[key];
      if (oneof && oneof.oneof.includes(value)) continue; // the virtual field `oneofs: true` adds
      const guess = type.fields[snakeCase(key)] ? `; did you mean "${snakeCase(key)}"? Fields keep their .proto names` : '';
      const known = Object.keys(type.fields).join(', ');
      throw new RequestProblem(path, `unknown field of ${type.fullName.slice(1)}${guess} (fields: ${known})`);
    }
    if (field.map) {
      if (!isPlainObject(value)) throw new RequestProblem(path, 'an object expected (a map)');
      for (const [k, v] of Object.entries(value)) checkValue(field, v, `${path}[${JSON.stringify(k)}]`);
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw new RequestProblem(path, `an array expected (a repeated field), got ${JSON.stringify(value)}`);
      value.forEach((item, i) => checkValue(field, item, `${path}[${i}]`));
    } else {
      checkValue(field, value, path);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => message[name] !== undefined && message[name] !== null);
    if (set.length > 1) {
      const path = prefix ? `${prefix}.${oneof.name}` : oneof.name;
      throw new RequestProblem(path, `at most one of ${oneof.oneof.join(', ')} may be set, got ${set.join(' and ')}`);
    }
  }
}

/**
 * Checks `request` against the message type `typeName` (for example
 * 'imaging.generator.v1.StreamGenerateRequest') and throws a TypeError naming
 * the first field that proto-loader would drop or change silently: an unknown
 * field (a camelCase name), an enum name that does not exist, an int64 Number
 * above 2^53, a value of the wrong type. Returns the request.
 */
function checkRequest(typeName, request, options = {}) {
  const type = load(options).root.lookupType(typeName);
  const problem = findProblem(type, request);
  if (problem) {
    const error = new TypeError(`invalid ${typeName}: ${problem.message}`);
    error.field = problem.field;
    error.description = problem.description;
    throw error;
  }
  return request;
}

function findProblem(type, request) {
  try {
    checkMessage(type, request, '');
    return null;
  } catch (error) {
    if (error instanceof RequestProblem) return error;
    throw error;
  }
}

// ---------------------------------------------------------------- errors

/** A google.rpc.Status with ErrorInfo and BadRequest, as the servers send, for a call never sent. */
function clientValidationStatus(methodPath, problem) {
  const types = rpcTypes();
  const pack = (name, value) => {
    const type = types.lookupType(name);
    return { type_url: `type.googleapis.com/${name}`, value: type.encode(type.fromObject(value)).finish() };
  };
  const message = `request not sent: ${problem.message}`;
  const status = types.lookupType('google.rpc.Status');
  const encoded = status
    .encode(
      status.fromObject({
        code: grpc.status.INVALID_ARGUMENT,
        message,
        details: [
          pack('google.rpc.ErrorInfo', {
            reason: 'INVALID_REQUEST_FIELD',
            domain: CLIENT_ERROR_DOMAIN,
            metadata: { method: methodPath },
          }),
          pack('google.rpc.BadRequest', {
            field_violations: [{ field: problem.field, description: problem.description }],
          }),
        ],
      }),
    )
    .finish();
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(encoded));
  return { code: grpc.status.INVALID_ARGUMENT, details: message, metadata };
}

function firstValue(metadata, key) {
  if (!metadata || typeof metadata.get !== 'function') return '';
  const [value] = metadata.get(key);
  if (value === undefined) return '';
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/** The x-request-id in a grpc.Metadata (initial or trailing); '' when none. */
function requestIdFrom(metadata) {
  return firstValue(metadata, REQUEST_ID_KEY);
}

/**
 * The server's request id of a call (unary or streaming), from its initial
 * metadata, which every imaging server sends first; '' when the call ended
 * without any (it never reached a server).
 */
function requestIdOf(call) {
  return new Promise((resolve) => {
    call.once('metadata', (metadata) => resolve(requestIdFrom(metadata)));
    call.once('status', (status) => resolve(requestIdFrom(status.metadata)));
  });
}

function durationMs(duration) {
  if (!duration) return 0;
  return Number(duration.seconds || 0) * 1000 + Number(duration.nanos || 0) / 1e6;
}

/**
 * What a failed call's status carried: the gRPC code and message, and the
 * google.rpc details decoded from the `grpc-status-details-bin` trailer
 * (ErrorInfo, BadRequest, RetryInfo, QuotaFailure), with the server's request id.
 */
function errorDetails(error) {
  const code = error && typeof error.code === 'number' ? error.code : grpc.status.UNKNOWN;
  const result = {
    code,
    codeName: grpc.status[code] || 'UNKNOWN',
    message: error && typeof error.details === 'string' ? error.details : String((error && error.message) || error),
    reason: '',
    domain: '',
    metadata: {},
    fieldViolations: [],
    retryDelayMs: null,
    quotaViolations: [],
    requestId: requestIdFrom(error && error.metadata),
  };
  const raw = error && error.metadata && typeof error.metadata.get === 'function' ? error.metadata.get(STATUS_DETAILS_KEY) : [];
  if (!raw.length) return result;
  const types = rpcTypes();
  const toObject = { longs: String, enums: String, defaults: true };
  let status;
  try {
    status = types.lookupType('google.rpc.Status').decode(Buffer.from(raw[0]));
  } catch {
    return result; // not a google.rpc.Status: only the code and message are known
  }
  for (const any of status.details) {
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = types.lookup(name);
    if (!(type instanceof protobuf.Type)) continue; // a detail type this client does not know
    const detail = type.toObject(type.decode(any.value), toObject);
    if (name === 'google.rpc.ErrorInfo') {
      result.reason = detail.reason;
      result.domain = detail.domain;
      result.metadata = { ...detail.metadata };
    } else if (name === 'google.rpc.BadRequest') {
      for (const v of detail.field_violations) result.fieldViolations.push({ field: v.field, description: v.description });
    } else if (name === 'google.rpc.RetryInfo') {
      result.retryDelayMs = Math.ceil(durationMs(detail.retry_delay));
    } else if (name === 'google.rpc.QuotaFailure') {
      for (const v of detail.violations) result.quotaViolations.push({ subject: v.subject, description: v.description });
    }
  }
  return result;
}

// ---------------------------------------------------------------- interceptors

/** Adds `authorization: Bearer <key>` unless the call's metadata has a credential. */
function apiKeyInterceptor(apiKey) {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        let outgoing = metadata;
        if (!metadata.get('authorization').length && !metadata.get('x-api-key').length) {
          outgoing = metadata.clone();
          outgoing.set('authorization', `Bearer ${apiKey}`);
        }
        next(outgoing, listener);
      },
    });
}

/** Gives calls without a deadline one `timeoutMs` from their start. */
function deadlineInterceptor(timeoutMs) {
  return (options, nextCall) =>
    nextCall(options.deadline === undefined ? { ...options, deadline: Date.now() + timeoutMs } : options);
}

/**
 * Copies the x-request-id of a call's initial metadata into the trailing
 * metadata of its error, so that errorDetails(error) has it.
 */
function requestIdInterceptor(options, nextCall) {
  let requestId = '';
  return new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      next(metadata, {
        onReceiveMetadata(received, nextMetadata) {
          requestId = requestIdFrom(received);
          nextMetadata(received);
        },
        onReceiveStatus(status, nextStatus) {
          if (status.code !== grpc.status.OK && requestId && status.metadata && !requestIdFrom(status.metadata)) {
            status.metadata.set(REQUEST_ID_KEY, requestId);
          }
          nextStatus(status);
        },
      });
    },
  });
}

/**
 * Checks each request against its method's input type before anything is
 * sent; a request with a problem ends the call with INVALID_ARGUMENT, its
 * BadRequest naming the field (ErrorInfo domain "imaging.client").
 */
function validatingInterceptor(root) {
  return (options, nextCall) => {
    const inner = nextCall(options);
    const [, serviceName, methodName] = options.method_definition.path.split('/');
    const service = root.lookup(serviceName);
    const method = service instanceof protobuf.Service ? service.methods[methodName] : undefined;
    if (!method) return inner;
    let pending = null;
    let failed = false;
    return new grpc.InterceptingCall(inner, {
      start(metadata, listener, next) {
        pending = { metadata, listener, next }; // started once the request is known to be good
      },
      sendMessage(message, next) {
        const problem = pending ? findProblem(method.resolvedRequestType, message) : null;
        if (!problem) {
          if (pending) pending.next(pending.metadata, pending.listener);
          pending = null;
          next(message);
          return;
        }
        failed = true;
        const { listener } = pending;
        inner.cancelWithStatus(grpc.status.CANCELLED, 'request not sent: it failed the client-side check');
        process.nextTick(() => listener.onReceiveStatus(clientValidationStatus(options.method_definition.path, problem)));
      },
      halfClose(next) {
        if (!failed) next();
      },
    });
  };
}

// ---------------------------------------------------------------- clients

/**
 * Clients of every imaging service on one channel to `address` (the gateway,
 * or a model server's own port). Each call carries the API key, gets a
 * deadline `timeoutMs` from its start unless it sets one, and has its request
 * checked first (`validate: false` turns that off).
 */
function connect(address, options = {}) {
  const { apiKey, credentials, timeoutMs = 60_000, validate = true, channelOptions = {}, protosDir } = options;
  const { grpc: pkg, root } = load({ protosDir });
  const interceptors = [];
  if (validate) interceptors.push(validatingInterceptor(root));
  interceptors.push(requestIdInterceptor);
  if (apiKey) interceptors.push(apiKeyInterceptor(apiKey));
  if (timeoutMs) interceptors.push(deadlineInterceptor(timeoutMs));
  const channelCredentials = credentials || grpc.credentials.createInsecure();
  const captioner = new pkg.imaging.captioner.v1.CaptionerService(address, channelCredentials, {
    ...channelOptions,
    interceptors,
  });
  const shared = { ...channelOptions, interceptors, channelOverride: captioner.getChannel() };
  return {
    captioner,
    generator: new pkg.imaging.generator.v1.GeneratorService(address, channelCredentials, shared),
    usage: new pkg.imaging.gateway.v1.UsageService(address, channelCredentials, shared),
    admin: new pkg.imaging.gateway.v1.AdminService(address, channelCredentials, shared),
    health: new pkg.grpc.health.v1.Health(address, channelCredentials, shared),
    close() {
      captioner.close();
    },
  };
}

/**
 * Calls a unary method as a promise: `await unary(captioner, 'Caption', request)`
 * gives `{response, requestId}` and rejects with the call's ServiceError.
 */
function unary(client, method, request, options = {}) {
  const { metadata = new grpc.Metadata(), ...callOptions } = options;
  return new Promise((resolve, reject) => {
    let requestId = '';
    const call = client[method](request, metadata, callOptions, (error, response) => {
      if (error) reject(error);
      else resolve({ response, requestId });
    });
    call.on('metadata', (received) => {
      requestId = requestIdFrom(received);
    });
  });
}

module.exports = {
  grpc,
  LOADER_OPTIONS,
  PROTO_FILES,
  REQUEST_ID_KEY,
  load,
  includeDirs,
  defaultProtosDir,
  connect,
  unary,
  checkRequest,
  errorDetails,
  requestIdOf,
  requestIdFrom,
  durationMs,
};
