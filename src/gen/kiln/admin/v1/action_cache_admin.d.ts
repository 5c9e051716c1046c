import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CallOptions, type ChannelCredentials, Client, type ClientOptions, type ClientUnaryCall, type handleUnaryCall, type Metadata, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { Digest, DigestFunction_Value } from "../../../build/bazel/remote/execution/v2/remote_execution.js";
import { Timestamp } from "../../../google/protobuf/timestamp.js";
import { Provenance } from "../../cache/v1/entry.js";
export declare const protobufPackage = "kiln.admin.v1";
export declare const protobufFileName = "kiln/admin/v1/action_cache_admin.proto";
export interface GetProvenanceRequest {
    /** The instance the entry belongs to, as in GetActionResult. */
    instanceName: string;
    actionDigest: Digest | undefined;
    /** The action digest's function; 0 infers it from the hash length. */
    digestFunction: DigestFunction_Value;
}
export interface GetProvenanceResponse {
    /** Absent for an entry written before Kiln recorded provenance. */
    provenance: Provenance | undefined;
    /**
     * Whether the entry is also served by GetActionResult: false when an
     * output it names has left the CAS.
     */
    complete: boolean;
}
export interface PurgeRequest {
    /**
     * Entries of this instance name and of every instance below it (per path
     * segment); "" is every instance.
     */
    instanceName: string;
    /**
     * Remove the entries in which this principal took part: as the client
     * that uploaded the result or asked for its execution, or as the
     * principal of the worker that produced it. At least one of principal
     * and worker must be set; with both, an entry must match both.
     */
    principal: string;
    /** Remove the entries produced by workers of this name (bot_id). */
    worker: string;
    /** Only entries written at or after this time; all when absent. */
    since: Timestamp | undefined;
    /** Count and list what would be removed, removing nothing. */
    dryRun: boolean;
}
export interface PurgeResponse {
    /** Entries removed (or, with dry_run, that would be). */
    removed: number;
    /** Entries the writer index named that were checked against the store. */
    examined: number;
    /** The removed entries, at most the first 1000. */
    entries: PurgedEntry[];
}
export interface PurgedEntry {
    instanceName: string;
    actionDigest: Digest | undefined;
    digestFunction: DigestFunction_Value;
    provenance: Provenance | undefined;
}
export declare const GetProvenanceRequest: MessageFns<GetProvenanceRequest>;
export declare const GetProvenanceResponse: MessageFns<GetProvenanceResponse>;
export declare const PurgeRequest: MessageFns<PurgeRequest>;
export declare const PurgeResponse: MessageFns<PurgeResponse>;
export declare const PurgedEntry: MessageFns<PurgedEntry>;
export type ActionCacheAdminService = typeof ActionCacheAdminService;
export declare const ActionCacheAdminService: {
    /**
     * Who wrote the entry of one action. Needs `ac:read` on the instance.
     * NOT_FOUND when the action cache holds no entry for the action.
     */
    readonly getProvenance: {
        readonly path: "/kiln.admin.v1.ActionCacheAdmin/GetProvenance";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: GetProvenanceRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => GetProvenanceRequest;
        readonly responseSerialize: (value: GetProvenanceResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => GetProvenanceResponse;
    };
    /**
     * Removes every entry written by a principal or a worker, optionally only
     * those written since a time. Needs `admin` on the instance.
     */
    readonly purge: {
        readonly path: "/kiln.admin.v1.ActionCacheAdmin/Purge";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: PurgeRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => PurgeRequest;
        readonly responseSerialize: (value: PurgeResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => PurgeResponse;
    };
};
export interface ActionCacheAdminServer extends UntypedServiceImplementation {
    /**
     * Who wrote the entry of one action. Needs `ac:read` on the instance.
     * NOT_FOUND when the action cache holds no entry for the action.
     */
    getProvenance: handleUnaryCall<GetProvenanceRequest, GetProvenanceResponse>;
    /**
     * Removes every entry written by a principal or a worker, optionally only
     * those written since a time. Needs `admin` on the instance.
     */
    purge: handleUnaryCall<PurgeRequest, PurgeResponse>;
}
export interface ActionCacheAdminClient extends Client {
    /**
     * Who wrote the entry of one action. Needs `ac:read` on the instance.
     * NOT_FOUND when the action cache holds no entry for the action.
     */
    getProvenance(request: GetProvenanceRequest, callback: (error: ServiceError | null, response: GetProvenanceResponse) => void): ClientUnaryCall;
    getProvenance(request: GetProvenanceRequest, metadata: Metadata, callback: (error: ServiceError | null, response: GetProvenanceResponse) => void): ClientUnaryCall;
    getProvenance(request: GetProvenanceRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: GetProvenanceResponse) => void): ClientUnaryCall;
    /**
     * Removes every entry written by a principal or a worker, optionally only
     * those written since a time. Needs `admin` on the instance.
     */
    purge(request: PurgeRequest, callback: (error: ServiceError | null, response: PurgeResponse) => void): ClientUnaryCall;
    purge(request: PurgeRequest, metadata: Metadata, callback: (error: ServiceError | null, response: PurgeResponse) => void): ClientUnaryCall;
    purge(request: PurgeRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: PurgeResponse) => void): ClientUnaryCall;
}
export declare const ActionCacheAdminClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): ActionCacheAdminClient;
    service: typeof ActionCacheAdminService;
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
