import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CallOptions, type ChannelCredentials, Client, type ClientOptions, type ClientUnaryCall, type handleUnaryCall, type Metadata, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { Duration } from "../../../../../google/protobuf/duration.js";
import { Timestamp } from "../../../../../google/protobuf/timestamp.js";
import { Status } from "../../../../../google/rpc/status.js";
import { Digest, DigestFunction_Value } from "../../execution/v2/remote_execution.js";
export declare const protobufPackage = "build.bazel.remote.asset.v1";
export declare const protobufFileName = "build/bazel/remote/asset/v1/remote_asset.proto";
/** A name/value pair that narrows down which content a URI refers to. */
export interface Qualifier {
    name: string;
    value: string;
}
export interface FetchBlobRequest {
    instanceName: string;
    /** Limit for retrieving from origin. */
    timeout: Duration | undefined;
    /** Reject cached content older than this. */
    oldestContentAccepted: Timestamp | undefined;
    /** Candidate locations; any one may be used. */
    uris: string[];
    qualifiers: Qualifier[];
    /** Hash function to use for the returned digest. */
    digestFunction: DigestFunction_Value;
}
export interface FetchBlobResponse {
    /** Non-OK for failures outside the server's control. */
    status: Status | undefined;
    /** The URI that was used. */
    uri: string;
    qualifiers: Qualifier[];
    /** How long the content is expected to stay available. */
    expiresAt: Timestamp | undefined;
    blobDigest: Digest | undefined;
    /** Hash function actually used for blob_digest. */
    digestFunction: DigestFunction_Value;
}
export interface FetchDirectoryRequest {
    instanceName: string;
    timeout: Duration | undefined;
    oldestContentAccepted: Timestamp | undefined;
    uris: string[];
    qualifiers: Qualifier[];
    digestFunction: DigestFunction_Value;
}
export interface FetchDirectoryResponse {
    status: Status | undefined;
    uri: string;
    qualifiers: Qualifier[];
    expiresAt: Timestamp | undefined;
    /** Root Directory digest of the fetched tree. */
    rootDirectoryDigest: Digest | undefined;
    digestFunction: DigestFunction_Value;
}
export interface PushBlobRequest {
    instanceName: string;
    uris: string[];
    qualifiers: Qualifier[];
    /** When the association should stop being served. */
    expireAt: Timestamp | undefined;
    blobDigest: Digest | undefined;
    /** Content that must outlive this association (hints). */
    referencesBlobs: Digest[];
    referencesDirectories: Digest[];
    digestFunction: DigestFunction_Value;
}
export interface PushBlobResponse {
}
export interface PushDirectoryRequest {
    instanceName: string;
    uris: string[];
    qualifiers: Qualifier[];
    expireAt: Timestamp | undefined;
    rootDirectoryDigest: Digest | undefined;
    referencesBlobs: Digest[];
    referencesDirectories: Digest[];
    digestFunction: DigestFunction_Value;
}
export interface PushDirectoryResponse {
}
export declare const Qualifier: MessageFns<Qualifier>;
export declare const FetchBlobRequest: MessageFns<FetchBlobRequest>;
export declare const FetchBlobResponse: MessageFns<FetchBlobResponse>;
export declare const FetchDirectoryRequest: MessageFns<FetchDirectoryRequest>;
export declare const FetchDirectoryResponse: MessageFns<FetchDirectoryResponse>;
export declare const PushBlobRequest: MessageFns<PushBlobRequest>;
export declare const PushBlobResponse: MessageFns<PushBlobResponse>;
export declare const PushDirectoryRequest: MessageFns<PushDirectoryRequest>;
export declare const PushDirectoryResponse: MessageFns<PushDirectoryResponse>;
/** Resolves URIs (plus qualifiers) to content stored in the CAS. */
export type FetchService = typeof FetchService;
export declare const FetchService: {
    readonly fetchBlob: {
        readonly path: "/build.bazel.remote.asset.v1.Fetch/FetchBlob";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: FetchBlobRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => FetchBlobRequest;
        readonly responseSerialize: (value: FetchBlobResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => FetchBlobResponse;
    };
    readonly fetchDirectory: {
        readonly path: "/build.bazel.remote.asset.v1.Fetch/FetchDirectory";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: FetchDirectoryRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => FetchDirectoryRequest;
        readonly responseSerialize: (value: FetchDirectoryResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => FetchDirectoryResponse;
    };
};
export interface FetchServer extends UntypedServiceImplementation {
    fetchBlob: handleUnaryCall<FetchBlobRequest, FetchBlobResponse>;
    fetchDirectory: handleUnaryCall<FetchDirectoryRequest, FetchDirectoryResponse>;
}
export interface FetchClient extends Client {
    fetchBlob(request: FetchBlobRequest, callback: (error: ServiceError | null, response: FetchBlobResponse) => void): ClientUnaryCall;
    fetchBlob(request: FetchBlobRequest, metadata: Metadata, callback: (error: ServiceError | null, response: FetchBlobResponse) => void): ClientUnaryCall;
    fetchBlob(request: FetchBlobRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: FetchBlobResponse) => void): ClientUnaryCall;
    fetchDirectory(request: FetchDirectoryRequest, callback: (error: ServiceError | null, response: FetchDirectoryResponse) => void): ClientUnaryCall;
    fetchDirectory(request: FetchDirectoryRequest, metadata: Metadata, callback: (error: ServiceError | null, response: FetchDirectoryResponse) => void): ClientUnaryCall;
    fetchDirectory(request: FetchDirectoryRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: FetchDirectoryResponse) => void): ClientUnaryCall;
}
export declare const FetchClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): FetchClient;
    service: typeof FetchService;
    serviceName: string;
};
/** Lets trusted clients register URI -> content associations for Fetch. */
export type PushService = typeof PushService;
export declare const PushService: {
    readonly pushBlob: {
        readonly path: "/build.bazel.remote.asset.v1.Push/PushBlob";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: PushBlobRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => PushBlobRequest;
        readonly responseSerialize: (value: PushBlobResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => PushBlobResponse;
    };
    readonly pushDirectory: {
        readonly path: "/build.bazel.remote.asset.v1.Push/PushDirectory";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: PushDirectoryRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => PushDirectoryRequest;
        readonly responseSerialize: (value: PushDirectoryResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => PushDirectoryResponse;
    };
};
export interface PushServer extends UntypedServiceImplementation {
    pushBlob: handleUnaryCall<PushBlobRequest, PushBlobResponse>;
    pushDirectory: handleUnaryCall<PushDirectoryRequest, PushDirectoryResponse>;
}
export interface PushClient extends Client {
    pushBlob(request: PushBlobRequest, callback: (error: ServiceError | null, response: PushBlobResponse) => void): ClientUnaryCall;
    pushBlob(request: PushBlobRequest, metadata: Metadata, callback: (error: ServiceError | null, response: PushBlobResponse) => void): ClientUnaryCall;
    pushBlob(request: PushBlobRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: PushBlobResponse) => void): ClientUnaryCall;
    pushDirectory(request: PushDirectoryRequest, callback: (error: ServiceError | null, response: PushDirectoryResponse) => void): ClientUnaryCall;
    pushDirectory(request: PushDirectoryRequest, metadata: Metadata, callback: (error: ServiceError | null, response: PushDirectoryResponse) => void): ClientUnaryCall;
    pushDirectory(request: PushDirectoryRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: PushDirectoryResponse) => void): ClientUnaryCall;
}
export declare const PushClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): PushClient;
    service: typeof PushService;
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
