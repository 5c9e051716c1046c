import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Action, Command, Digest, DigestFunction_Value } from "../../../build/bazel/remote/execution/v2/remote_execution.js";
import { Duration } from "../../../google/protobuf/duration.js";
export declare const protobufPackage = "kiln.worker.v1";
export declare const protobufFileName = "kiln/worker/v1/lease.proto";
/** What a worker must run: the lease payload. */
export interface ActionAssignment {
    /** Instance name for every CAS call made while running the action. */
    instanceName: string;
    /** Digest of the Action message in the CAS. */
    actionDigest: Digest | undefined;
    /** Digest function of action_digest and of every digest reachable from it. */
    digestFunction: DigestFunction_Value;
    /** The timeout the worker enforces: the Action's own, or the server default. */
    timeout: Duration | undefined;
    /**
     * The Action itself, which the scheduler already holds: saves the worker a
     * CAS read. Absent in payloads of other senders; the worker then reads it.
     */
    action: Action | undefined;
    /** The Action's Command, for the same reason. */
    command: Command | undefined;
    /**
     * RequestMetadata.tool_invocation_id of the Execute call that queued the
     * action (the first one, when several shared it); empty when unknown. The
     * worker puts it on its log lines about the action.
     */
    toolInvocationId: string;
    /**
     * A W3C trace context ("traceparent" header value) when the scheduler
     * traces the action: the worker's spans for it continue that trace.
     */
    traceparent: string;
}
export declare const ActionAssignment: MessageFns<ActionAssignment>;
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
