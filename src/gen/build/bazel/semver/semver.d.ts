import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
export declare const protobufPackage = "build.bazel.semver";
export declare const protobufFileName = "build/bazel/semver/semver.proto";
/** A semantic version number. */
export interface SemVer {
    /** Major component (X in X.Y.Z). */
    major: number;
    /** Minor component (Y in X.Y.Z). */
    minor: number;
    /** Patch component (Z in X.Y.Z). */
    patch: number;
    /** Pre-release label; used instead of the numeric components. */
    prerelease: string;
}
export declare const SemVer: MessageFns<SemVer>;
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
