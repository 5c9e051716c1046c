import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { Any } from "../../../protobuf/any.js";
import { Duration } from "../../../protobuf/duration.js";
import { Status } from "../../../rpc/status.js";
export declare const protobufPackage = "google.devtools.remoteworkers.v1test2";
export declare const protobufFileName = "google/devtools/remoteworkers/v1test2/command.proto";
/**
 * Describes a shell-style task to execute, suitable for providing as the Bots
 * interface's `Lease.payload` field.
 */
export interface CommandTask {
    /** The inputs to the task. */
    inputs: CommandTask_Inputs | undefined;
    /** The expected outputs from the task. */
    expectedOutputs: CommandTask_Outputs | undefined;
    /** The timeouts of this task. */
    timeouts: CommandTask_Timeouts | undefined;
}
/** Describes the inputs to a shell-style task. */
export interface CommandTask_Inputs {
    /**
     * The command itself to run (e.g., argv).
     *
     * This field should be passed directly to the underlying operating system,
     * and so it must be sensible to that operating system. For example, on
     * Windows, the first argument might be "C:\Windows\System32\ping.exe" -
     * that is, using drive letters and backslashes. A command for a *nix
     * system, on the other hand, would use forward slashes.
     *
     * All other fields in the RWAPI must consistently use forward slashes,
     * since those fields may be interpretted by both the service and the bot.
     */
    arguments: string[];
    /**
     * The input filesystem to be set up prior to the task beginning. The
     * contents should be a repeated set of FileMetadata messages though other
     * formats are allowed if better for the implementation (eg, a LUCI-style
     * .isolated file).
     *
     * This field is repeated since implementations might want to cache the
     * metadata, in which case it may be useful to break up portions of the
     * filesystem that change frequently (eg, specific input files) from those
     * that don't (eg, standard header files).
     */
    files: Digest[];
    /**
     * Inline contents for blobs expected to be needed by the bot to execute the
     * task. For example, contents of entries in `files` or blobs that are
     * indirectly referenced by an entry there.
     *
     * The bot should check against this list before downloading required task
     * inputs to reduce the number of communications between itself and the
     * remote CAS server.
     */
    inlineBlobs: Blob[];
    /** All environment variables required by the task. */
    environmentVariables: CommandTask_Inputs_EnvironmentVariable[];
    /**
     * Directory from which a command is executed. It is a relative directory
     * with respect to the bot's working directory (i.e., "./"). If it is
     * non-empty, then it must exist under "./". Otherwise, "./" will be used.
     */
    workingDirectory: string;
}
/** An environment variable required by this task. */
export interface CommandTask_Inputs_EnvironmentVariable {
    /** The envvar name. */
    name: string;
    /** The envvar value. */
    value: string;
}
/** Describes the expected outputs of the command. */
export interface CommandTask_Outputs {
    /**
     * A list of expected files, relative to the execution root. All paths
     * MUST be delimited by forward slashes.
     */
    files: string[];
    /**
     * A list of expected directories, relative to the execution root. All paths
     * MUST be delimited by forward slashes.
     */
    directories: string[];
    /**
     * The destination to which any stdout should be sent. The method by which
     * the bot should send the stream contents to that destination is not
     * defined in this API. As examples, the destination could be a file
     * referenced in the `files` field in this message, or it could be a URI
     * that must be written via the ByteStream API.
     */
    stdoutDestination: string;
    /**
     * The destination to which any stderr should be sent. The method by which
     * the bot should send the stream contents to that destination is not
     * defined in this API. As examples, the destination could be a file
     * referenced in the `files` field in this message, or it could be a URI
     * that must be written via the ByteStream API.
     */
    stderrDestination: string;
}
/** Describes the timeouts associated with this task. */
export interface CommandTask_Timeouts {
    /**
     * This specifies the maximum time that the task can run, excluding the
     * time required to download inputs or upload outputs. That is, the worker
     * will terminate the task if it runs longer than this.
     */
    execution: Duration | undefined;
    /**
     * This specifies the maximum amount of time the task can be idle - that is,
     * go without generating some output in either stdout or stderr. If the
     * process is silent for more than the specified time, the worker will
     * terminate the task.
     */
    idle: Duration | undefined;
    /**
     * If the execution or IO timeouts are exceeded, the worker will try to
     * gracefully terminate the task and return any existing logs. However,
     * tasks may be hard-frozen in which case this process will fail. This
     * timeout specifies how long to wait for a terminated task to shut down
     * gracefully (e.g. via SIGTERM) before we bring down the hammer (e.g.
     * SIGKILL on *nix, CTRL_BREAK_EVENT on Windows).
     */
    shutdown: Duration | undefined;
}
/**
 * DEPRECATED - use CommandResult instead.
 * Describes the actual outputs from the task.
 */
export interface CommandOutputs {
    /**
     * exit_code is only fully reliable if the status' code is OK. If the task
     * exceeded its deadline or was cancelled, the process may still produce an
     * exit code as it is cancelled, and this will be populated, but a successful
     * (zero) is unlikely to be correct unless the status code is OK.
     */
    exitCode: number;
    /**
     * The output files. The blob referenced by the digest should contain
     * one of the following (implementation-dependent):
     *    * A marshalled DirectoryMetadata of the returned filesystem
     *    * A LUCI-style .isolated file
     */
    outputs: Digest | undefined;
}
/**
 * DEPRECATED - use CommandResult instead.
 * Can be used as part of CompleteRequest.metadata, or are part of a more
 * sophisticated message.
 */
export interface CommandOverhead {
    /**
     * The elapsed time between calling Accept and Complete. The server will also
     * have its own idea of what this should be, but this excludes the overhead of
     * the RPCs and the bot response time.
     */
    duration: Duration | undefined;
    /**
     * The amount of time *not* spent executing the command (ie
     * uploading/downloading files).
     */
    overhead: Duration | undefined;
}
/**
 * All information about the execution of a command, suitable for providing as
 * the Bots interface's `Lease.result` field.
 */
export interface CommandResult {
    /**
     * An overall status for the command. For example, if the command timed out,
     * this might have a code of DEADLINE_EXCEEDED; if it was killed by the OS for
     * memory exhaustion, it might have a code of RESOURCE_EXHAUSTED.
     */
    status: Status | undefined;
    /**
     * The exit code of the process. An exit code of "0" should only be trusted if
     * `status` has a code of OK (otherwise it may simply be unset).
     */
    exitCode: number;
    /**
     * The output files. The blob referenced by the digest should contain
     * one of the following (implementation-dependent):
     *    * A marshalled DirectoryMetadata of the returned filesystem
     *    * A LUCI-style .isolated file
     */
    outputs: Digest | undefined;
    /**
     * The elapsed time between calling Accept and Complete. The server will also
     * have its own idea of what this should be, but this excludes the overhead of
     * the RPCs and the bot response time.
     *
     * @deprecated
     */
    duration: Duration | undefined;
    /**
     * The amount of time *not* spent executing the command (ie
     * uploading/downloading files).
     *
     * @deprecated
     */
    overhead: Duration | undefined;
    /**
     * Implementation-dependent metadata about the task. Both servers and bots
     * may define messages which can be encoded here; bots are free to provide
     * metadata in multiple formats, and servers are free to choose one or more
     * of the values to process and ignore others. In particular, it is *not*
     * considered an error for the bot to provide the server with a field that it
     * doesn't know about.
     */
    metadata: Any[];
}
/**
 * The metadata for a file. Similar to the equivalent message in the Remote
 * Execution API.
 */
export interface FileMetadata {
    /**
     * The path of this file. If this message is part of the
     * CommandOutputs.outputs fields, the path is relative to the execution root
     * and must correspond to an entry in CommandTask.outputs.files. If this
     * message is part of a Directory message, then the path is relative to the
     * root of that directory. All paths MUST be delimited by forward slashes.
     */
    path: string;
    /**
     * A pointer to the contents of the file. The method by which a client
     * retrieves the contents from a CAS system is not defined here.
     */
    digest: Digest | undefined;
    /**
     * If the file is small enough, its contents may also or alternatively be
     * listed here.
     */
    contents: Buffer;
    /** Properties of the file */
    isExecutable: boolean;
}
/**
 * The metadata for a directory. Similar to the equivalent message in the Remote
 * Execution API.
 */
export interface DirectoryMetadata {
    /**
     * The path of the directory, as in
     * [FileMetadata.path][google.devtools.remoteworkers.v1test2.FileMetadata.path].
     */
    path: string;
    /**
     * A pointer to the contents of the directory, in the form of a marshalled
     * Directory message.
     */
    digest: Digest | undefined;
}
/**
 * The CommandTask and CommandResult messages assume the existence of a service
 * that can serve blobs of content, identified by a hash and size known as a
 * "digest." The method by which these blobs may be retrieved is not specified
 * here, but a model implementation is in the Remote Execution API's
 * "ContentAddressibleStorage" interface.
 *
 * In the context of the RWAPI, a Digest will virtually always refer to the
 * contents of a file or a directory. The latter is represented by the
 * byte-encoded Directory message.
 */
export interface Digest {
    /**
     * A string-encoded hash (eg "1a2b3c", not the byte array [0x1a, 0x2b, 0x3c])
     * using an implementation-defined hash algorithm (eg SHA-256).
     */
    hash: string;
    /**
     * The size of the contents. While this is not strictly required as part of an
     * identifier (after all, any given hash will have exactly one canonical
     * size), it's useful in almost all cases when one might want to send or
     * retrieve blobs of content and is included here for this reason.
     */
    sizeBytes: number;
}
/** Describes a blob of binary content with its digest. */
export interface Blob {
    /** The digest of the blob. This should be verified by the receiver. */
    digest: Digest | undefined;
    /** The contents of the blob. */
    contents: Buffer;
}
/**
 * The contents of a directory. Similar to the equivalent message in the Remote
 * Execution API.
 */
export interface Directory {
    /** The files in this directory */
    files: FileMetadata[];
    /** Any subdirectories */
    directories: DirectoryMetadata[];
}
export declare const CommandTask: MessageFns<CommandTask>;
export declare const CommandTask_Inputs: MessageFns<CommandTask_Inputs>;
export declare const CommandTask_Inputs_EnvironmentVariable: MessageFns<CommandTask_Inputs_EnvironmentVariable>;
export declare const CommandTask_Outputs: MessageFns<CommandTask_Outputs>;
export declare const CommandTask_Timeouts: MessageFns<CommandTask_Timeouts>;
export declare const CommandOutputs: MessageFns<CommandOutputs>;
export declare const CommandOverhead: MessageFns<CommandOverhead>;
export declare const CommandResult: MessageFns<CommandResult>;
export declare const FileMetadata: MessageFns<FileMetadata>;
export declare const DirectoryMetadata: MessageFns<DirectoryMetadata>;
export declare const Digest: MessageFns<Digest>;
export declare const Blob: MessageFns<Blob>;
export declare const Directory: MessageFns<Directory>;
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
