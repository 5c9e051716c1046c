import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CallOptions, type ChannelCredentials, Client, type ClientOptions, type ClientReadableStream, type ClientUnaryCall, type handleServerStreamingCall, type handleUnaryCall, type Metadata, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
export declare const protobufPackage = "grpc.health.v1";
export declare const protobufFileName = "grpc/health/v1/health.proto";
export interface HealthCheckRequest {
    /** "" for the whole server, else a fully qualified service name. */
    service: string;
}
export interface HealthCheckResponse {
    status: HealthCheckResponse_ServingStatus;
}
export declare const HealthCheckResponse_ServingStatus: {
    /** UNKNOWN - Not yet known. */
    readonly UNKNOWN: 0;
    /** SERVING - Accepting calls. */
    readonly SERVING: 1;
    /** NOT_SERVING - Not accepting calls: shutting down, or cannot do its work. */
    readonly NOT_SERVING: 2;
    /** SERVICE_UNKNOWN - Only in Watch: the named service is not served here. */
    readonly SERVICE_UNKNOWN: 3;
    readonly UNRECOGNIZED: -1;
};
export type HealthCheckResponse_ServingStatus = typeof HealthCheckResponse_ServingStatus[keyof typeof HealthCheckResponse_ServingStatus];
export declare namespace HealthCheckResponse_ServingStatus {
    type UNKNOWN = typeof HealthCheckResponse_ServingStatus.UNKNOWN;
    type SERVING = typeof HealthCheckResponse_ServingStatus.SERVING;
    type NOT_SERVING = typeof HealthCheckResponse_ServingStatus.NOT_SERVING;
    type SERVICE_UNKNOWN = typeof HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN;
    type UNRECOGNIZED = typeof HealthCheckResponse_ServingStatus.UNRECOGNIZED;
}
export declare function healthCheckResponse_ServingStatusFromJSON(object: any): HealthCheckResponse_ServingStatus;
export declare function healthCheckResponse_ServingStatusToJSON(object: HealthCheckResponse_ServingStatus): string;
export declare const HealthCheckRequest: MessageFns<HealthCheckRequest>;
export declare const HealthCheckResponse: MessageFns<HealthCheckResponse>;
export type HealthService = typeof HealthService;
export declare const HealthService: {
    /**
     * The status now. An empty service name asks about the whole server; a
     * fully qualified service name (e.g. "google.bytestream.ByteStream") asks
     * about that service. NOT_FOUND when the server does not serve that name.
     */
    readonly check: {
        readonly path: "/grpc.health.v1.Health/Check";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: HealthCheckRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => HealthCheckRequest;
        readonly responseSerialize: (value: HealthCheckResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => HealthCheckResponse;
    };
    /**
     * The status now, then each change until the call ends. A name the server
     * does not serve is answered SERVICE_UNKNOWN rather than ending the call.
     */
    readonly watch: {
        readonly path: "/grpc.health.v1.Health/Watch";
        readonly requestStream: false;
        readonly responseStream: true;
        readonly requestSerialize: (value: HealthCheckRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => HealthCheckRequest;
        readonly responseSerialize: (value: HealthCheckResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => HealthCheckResponse;
    };
};
export interface HealthServer extends UntypedServiceImplementation {
    /**
     * The status now. An empty service name asks about the whole server; a
     * fully qualified service name (e.g. "google.bytestream.ByteStream") asks
     * about that service. NOT_FOUND when the server does not serve that name.
     */
    check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;
    /**
     * The status now, then each change until the call ends. A name the server
     * does not serve is answered SERVICE_UNKNOWN rather than ending the call.
     */
    watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse>;
}
export interface HealthClient extends Client {
    /**
     * The status now. An empty service name asks about the whole server; a
     * fully qualified service name (e.g. "google.bytestream.ByteStream") asks
     * about that service. NOT_FOUND when the server does not serve that name.
     */
    check(request: HealthCheckRequest, callback: (error: ServiceError | null, response: HealthCheckResponse) => void): ClientUnaryCall;
    check(request: HealthCheckRequest, metadata: Metadata, callback: (error: ServiceError | null, response: HealthCheckResponse) => void): ClientUnaryCall;
    check(request: HealthCheckRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: HealthCheckResponse) => void): ClientUnaryCall;
    /**
     * The status now, then each change until the call ends. A name the server
     * does not serve is answered SERVICE_UNKNOWN rather than ending the call.
     */
    watch(request: HealthCheckRequest, options?: Partial<CallOptions>): ClientReadableStream<HealthCheckResponse>;
    watch(request: HealthCheckRequest, metadata?: Metadata, options?: Partial<CallOptions>): ClientReadableStream<HealthCheckResponse>;
}
export declare const HealthClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): HealthClient;
    service: typeof HealthService;
    serviceName: string;
};
type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;
export type DeepPartial<T> = T extends Builtin ? T : T extends globalThis.Array<infer U> ? globalThis.Array<DeepPartial<U>> : T extends ReadonlyArray<infer U> ? ReadonlyArray<DeepPartial<U>> : T extends {} ? {
    [K in keyof T]?: DeepPartial<T[K]>;
} : Partial<T>;
export interface MessageFns<T> {
    encode(message: T, writer?: BinaryWriter): BinaryWriter;
    decode(input: BinaryReader | Uint8Array, length?: number): T;
    fromJSON(object: any): T;
    toJSON(message: T): unknown;
    create(base?: DeepPartial<T>): T;
    fromPartial(object: DeepPartial<T>): T;
}
export {};
