import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { ActionResult } from "../../../build/bazel/remote/execution/v2/remote_execution.js";
import { Timestamp } from "../../../google/protobuf/timestamp.js";
export declare const protobufPackage = "kiln.cache.v1";
export declare const protobufFileName = "kiln/cache/v1/entry.proto";
/** Who wrote an action cache entry, and how. */
export interface Provenance {
    source: Provenance_Source;
    /**
     * The authenticated caller of UpdateActionResult, or of the Execute call
     * that caused the execution: a configured principal, "anonymous", or
     * "loopback" (protected mode). Empty when the server ran without authentication.
     */
    principal: string;
    /** The name the worker gave for itself (its bot_id); empty for uploads. */
    worker: string;
    /** The worker's bot session, which tells apart two workers of one name. */
    workerSession: string;
    /**
     * The principal the worker authenticated as; empty for uploads and for
     * the in-process workers of `kiln serve`, which do not go through gRPC.
     */
    workerPrincipal: string;
    /** RequestMetadata.tool_invocation_id of the call (the build), when the client sent one. */
    toolInvocationId: string;
    /** The network address of the caller (grpc-js peer, ADDRESS:PORT). */
    clientAddress: string;
    /** When the entry was written, by the server's clock. */
    writtenAt: Timestamp | undefined;
}
/** How the entry came to be. */
export declare const Provenance_Source: {
    readonly SOURCE_UNSPECIFIED: 0;
    /** UPLOAD - A client stored it with ActionCache.UpdateActionResult. */
    readonly UPLOAD: 1;
    /** EXECUTION - A worker ran the action for an Execute call and the scheduler stored the result. */
    readonly EXECUTION: 2;
    readonly UNRECOGNIZED: -1;
};
export type Provenance_Source = typeof Provenance_Source[keyof typeof Provenance_Source];
export declare namespace Provenance_Source {
    type SOURCE_UNSPECIFIED = typeof Provenance_Source.SOURCE_UNSPECIFIED;
    type UPLOAD = typeof Provenance_Source.UPLOAD;
    type EXECUTION = typeof Provenance_Source.EXECUTION;
    type UNRECOGNIZED = typeof Provenance_Source.UNRECOGNIZED;
}
export declare function provenance_SourceFromJSON(object: any): Provenance_Source;
export declare function provenance_SourceToJSON(object: Provenance_Source): string;
/**
 * The stored form of an entry. REAPI reserves field 1 of ActionResult and
 * never uses it, so an entry always starts with the tag of field 1 and a
 * bare ActionResult, as older versions of Kiln stored it, never does: that
 * is how the two are told apart without a version byte.
 */
export interface ActionCacheEntry {
    /** Always written, even when empty, so that the encoding starts with it. */
    result: ActionResult | undefined;
    provenance: Provenance | undefined;
    /** Set when an administrator purged the entry; such an entry reads as absent. */
    purged: Purged | undefined;
}
/** What replaced a purged entry. */
export interface Purged {
    /** The administrator who purged it. */
    principal: string;
    purgedAt: Timestamp | undefined;
}
export declare const Provenance: MessageFns<Provenance>;
export declare const ActionCacheEntry: MessageFns<ActionCacheEntry>;
export declare const Purged: MessageFns<Purged>;
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
