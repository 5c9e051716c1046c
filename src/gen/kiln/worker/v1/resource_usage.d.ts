import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Duration } from "../../../google/protobuf/duration.js";
export declare const protobufPackage = "kiln.worker.v1";
export declare const protobufFileName = "kiln/worker/v1/resource_usage.proto";
/** CPU, memory and storage I/O of an action's processes. */
export interface ResourceUsage {
    /**
     * CPU time spent in user mode by the action's process and every descendant
     * that was waited for.
     */
    userTime: Duration | undefined;
    /** CPU time the kernel spent on behalf of the same processes. */
    systemTime: Duration | undefined;
    /**
     * The largest resident set size reached by any single process of the tree
     * (rusage's maxrss), not the sum over processes running at the same time.
     */
    peakMemoryBytes: number;
    /**
     * Bytes read from storage: block input operations times 512. Reads served
     * from the page cache are not counted.
     */
    readBytes: number;
    /** Bytes written to storage: block output operations times 512. */
    writtenBytes: number;
    /**
     * How the numbers were measured: "rusage" (wait4 on the process tree) or
     * "cgroup" (the action's control group).
     */
    source: string;
    /** The memory limit the action ran under, in bytes; 0 when it had none. */
    memoryLimitBytes: number;
}
export declare const ResourceUsage: MessageFns<ResourceUsage>;
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
