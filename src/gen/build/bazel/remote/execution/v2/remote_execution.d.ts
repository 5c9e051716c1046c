import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CallOptions, type ChannelCredentials, Client, type ClientOptions, type ClientReadableStream, type ClientUnaryCall, type handleServerStreamingCall, type handleUnaryCall, type Metadata, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { Operation } from "../../../../../google/longrunning/operations.js";
import { Any } from "../../../../../google/protobuf/any.js";
import { Duration } from "../../../../../google/protobuf/duration.js";
import { Timestamp } from "../../../../../google/protobuf/timestamp.js";
import { Status } from "../../../../../google/rpc/status.js";
import { SemVer } from "../../../semver/semver.js";
export declare const protobufPackage = "build.bazel.remote.execution.v2";
export declare const protobufFileName = "build/bazel/remote/execution/v2/remote_execution.proto";
/** Everything needed to reproduce one execution; its digest is the cache key. */
export interface Action {
    /** Digest of the Command blob in the CAS. */
    commandDigest: Digest | undefined;
    /** Digest of the root Directory of the inputs. */
    inputRootDigest: Digest | undefined;
    /** Execution time limit. */
    timeout: Duration | undefined;
    /** When set, the result must not be cached and runs must not be merged. */
    doNotCache: boolean;
    /** Opaque value used to separate cache namespaces. */
    salt: Buffer;
    /** Worker requirements (preferred over Command.platform). */
    platform: Platform | undefined;
}
/** The process to run and its environment. */
export interface Command {
    /** argv, including the program as the first element. */
    arguments: string[];
    /** Environment variables, sorted by name. */
    environmentVariables: Command_EnvironmentVariable[];
    /**
     * Legacy output file list (superseded by output_paths).
     *
     * @deprecated
     */
    outputFiles: string[];
    /**
     * Legacy output directory list (superseded by output_paths).
     *
     * @deprecated
     */
    outputDirectories: string[];
    /** Paths to collect after execution, relative to the working directory. */
    outputPaths: string[];
    /**
     * Legacy location of the platform (now on Action).
     *
     * @deprecated
     */
    platform: Platform | undefined;
    /** Working directory, relative to the input root. */
    workingDirectory: string;
    /** Node property keys to report for outputs. */
    outputNodeProperties: string[];
    outputDirectoryFormat: Command_OutputDirectoryFormat;
}
/** How output directories should be represented in the result. */
export declare const Command_OutputDirectoryFormat: {
    /** TREE_ONLY - Only a Tree message. */
    readonly TREE_ONLY: 0;
    /** DIRECTORY_ONLY - Only a root Directory (children stored separately). */
    readonly DIRECTORY_ONLY: 1;
    /** TREE_AND_DIRECTORY - Both representations. */
    readonly TREE_AND_DIRECTORY: 2;
    readonly UNRECOGNIZED: -1;
};
export type Command_OutputDirectoryFormat = typeof Command_OutputDirectoryFormat[keyof typeof Command_OutputDirectoryFormat];
export declare namespace Command_OutputDirectoryFormat {
    type TREE_ONLY = typeof Command_OutputDirectoryFormat.TREE_ONLY;
    type DIRECTORY_ONLY = typeof Command_OutputDirectoryFormat.DIRECTORY_ONLY;
    type TREE_AND_DIRECTORY = typeof Command_OutputDirectoryFormat.TREE_AND_DIRECTORY;
    type UNRECOGNIZED = typeof Command_OutputDirectoryFormat.UNRECOGNIZED;
}
export declare function command_OutputDirectoryFormatFromJSON(object: any): Command_OutputDirectoryFormat;
export declare function command_OutputDirectoryFormatToJSON(object: Command_OutputDirectoryFormat): string;
/** One environment variable. */
export interface Command_EnvironmentVariable {
    name: string;
    value: string;
}
/** A set of key/value requirements for the execution environment. */
export interface Platform {
    /** Sorted by name, then value. */
    properties: Platform_Property[];
}
/** One requirement. */
export interface Platform_Property {
    name: string;
    value: string;
}
/** One level of a Merkle directory tree. */
export interface Directory {
    files: FileNode[];
    directories: DirectoryNode[];
    symlinks: SymlinkNode[];
    nodeProperties: NodeProperties | undefined;
}
/** A free-form name/value property attached to a node. */
export interface NodeProperty {
    name: string;
    value: string;
}
/** Optional metadata attached to files, directories and symlinks. */
export interface NodeProperties {
    properties: NodeProperty[];
    /** Modification time. */
    mtime: Timestamp | undefined;
    /** POSIX permission bits. */
    unixMode: number | undefined;
}
/** A file entry inside a Directory. */
export interface FileNode {
    name: string;
    digest: Digest | undefined;
    isExecutable: boolean;
    nodeProperties: NodeProperties | undefined;
}
/** A subdirectory entry inside a Directory. */
export interface DirectoryNode {
    name: string;
    /** Digest of the child Directory message. */
    digest: Digest | undefined;
}
/** A symlink entry inside a Directory. */
export interface SymlinkNode {
    name: string;
    /** Link target, using '/' as separator. */
    target: string;
    nodeProperties: NodeProperties | undefined;
}
/** Content address: lowercase hex hash plus size in bytes. */
export interface Digest {
    hash: string;
    sizeBytes: number;
}
/** Timing and worker information for one execution. */
export interface ExecutedActionMetadata {
    worker: string;
    queuedTimestamp: Timestamp | undefined;
    workerStartTimestamp: Timestamp | undefined;
    workerCompletedTimestamp: Timestamp | undefined;
    inputFetchStartTimestamp: Timestamp | undefined;
    inputFetchCompletedTimestamp: Timestamp | undefined;
    executionStartTimestamp: Timestamp | undefined;
    executionCompletedTimestamp: Timestamp | undefined;
    /** Execution time as measured by the worker's (possibly virtual) clock. */
    virtualExecutionDuration: Duration | undefined;
    outputUploadStartTimestamp: Timestamp | undefined;
    outputUploadCompletedTimestamp: Timestamp | undefined;
    /** Worker-specific extra data. */
    auxiliaryMetadata: Any[];
}
/** Outcome of running an Action. */
export interface ActionResult {
    outputFiles: OutputFile[];
    /**
     * Legacy: file outputs that were symlinks.
     *
     * @deprecated
     */
    outputFileSymlinks: OutputSymlink[];
    /** Outputs (requested via output_paths) that were symlinks. */
    outputSymlinks: OutputSymlink[];
    outputDirectories: OutputDirectory[];
    /**
     * Legacy: directory outputs that were symlinks.
     *
     * @deprecated
     */
    outputDirectorySymlinks: OutputSymlink[];
    exitCode: number;
    /** Inlined stdout, only when requested. */
    stdoutRaw: Buffer;
    stdoutDigest: Digest | undefined;
    /** Inlined stderr, only when requested. */
    stderrRaw: Buffer;
    stderrDigest: Digest | undefined;
    executionMetadata: ExecutedActionMetadata | undefined;
}
/** A produced file, addressed by full relative path. */
export interface OutputFile {
    path: string;
    digest: Digest | undefined;
    isExecutable: boolean;
    /** Inlined content, only when requested. */
    contents: Buffer;
    nodeProperties: NodeProperties | undefined;
}
/** A whole directory tree packed into one message. */
export interface Tree {
    root: Directory | undefined;
    /** All descendant directories. */
    children: Directory[];
}
/** A produced directory. */
export interface OutputDirectory {
    path: string;
    /** Digest of a Tree message. */
    treeDigest: Digest | undefined;
    /** True when the Tree is stored in topological order with no duplicates. */
    isTopologicallySorted: boolean;
    /** Digest of the root Directory message. */
    rootDirectoryDigest: Digest | undefined;
}
/** A produced symlink (same wire layout as SymlinkNode). */
export interface OutputSymlink {
    path: string;
    target: string;
    nodeProperties: NodeProperties | undefined;
}
/** Scheduling hints. */
export interface ExecutionPolicy {
    /** Lower runs sooner; 0 is the default. */
    priority: number;
}
/** Cache retention hints. */
export interface ResultsCachePolicy {
    /** Lower is retained longer; 0 is the default. */
    priority: number;
}
export interface ExecuteRequest {
    instanceName: string;
    /** Force execution even if a cached result exists. */
    skipCacheLookup: boolean;
    actionDigest: Digest | undefined;
    executionPolicy: ExecutionPolicy | undefined;
    resultsCachePolicy: ResultsCachePolicy | undefined;
    digestFunction: DigestFunction_Value;
    inlineStdout: boolean;
    inlineStderr: boolean;
    inlineOutputFiles: string[];
}
/** A log blob stored in the CAS. */
export interface LogFile {
    digest: Digest | undefined;
    /** Whether the log is meant to be shown to humans as text. */
    humanReadable: boolean;
}
/** Final payload carried in Operation.response. */
export interface ExecuteResponse {
    result: ActionResult | undefined;
    cachedResult: boolean;
    /** Non-OK when the action could not finish. */
    status: Status | undefined;
    serverLogs: {
        [key: string]: LogFile;
    };
    message: string;
}
export interface ExecuteResponse_ServerLogsEntry {
    key: string;
    value: LogFile | undefined;
}
/** Wrapper for the execution stage enum. */
export interface ExecutionStage {
}
export declare const ExecutionStage_Value: {
    readonly UNKNOWN: 0;
    readonly CACHE_CHECK: 1;
    readonly QUEUED: 2;
    readonly EXECUTING: 3;
    readonly COMPLETED: 4;
    readonly UNRECOGNIZED: -1;
};
export type ExecutionStage_Value = typeof ExecutionStage_Value[keyof typeof ExecutionStage_Value];
export declare namespace ExecutionStage_Value {
    type UNKNOWN = typeof ExecutionStage_Value.UNKNOWN;
    type CACHE_CHECK = typeof ExecutionStage_Value.CACHE_CHECK;
    type QUEUED = typeof ExecutionStage_Value.QUEUED;
    type EXECUTING = typeof ExecutionStage_Value.EXECUTING;
    type COMPLETED = typeof ExecutionStage_Value.COMPLETED;
    type UNRECOGNIZED = typeof ExecutionStage_Value.UNRECOGNIZED;
}
export declare function executionStage_ValueFromJSON(object: any): ExecutionStage_Value;
export declare function executionStage_ValueToJSON(object: ExecutionStage_Value): string;
/** Progress payload carried in Operation.metadata. */
export interface ExecuteOperationMetadata {
    stage: ExecutionStage_Value;
    actionDigest: Digest | undefined;
    /** ByteStream resource names for live output, if offered. */
    stdoutStreamName: string;
    stderrStreamName: string;
    partialExecutionMetadata: ExecutedActionMetadata | undefined;
    digestFunction: DigestFunction_Value;
}
export interface WaitExecutionRequest {
    /** Operation name returned by Execute. */
    name: string;
}
export interface GetActionResultRequest {
    instanceName: string;
    actionDigest: Digest | undefined;
    inlineStdout: boolean;
    inlineStderr: boolean;
    inlineOutputFiles: string[];
    digestFunction: DigestFunction_Value;
}
export interface UpdateActionResultRequest {
    instanceName: string;
    actionDigest: Digest | undefined;
    actionResult: ActionResult | undefined;
    resultsCachePolicy: ResultsCachePolicy | undefined;
    digestFunction: DigestFunction_Value;
}
export interface FindMissingBlobsRequest {
    instanceName: string;
    blobDigests: Digest[];
    digestFunction: DigestFunction_Value;
}
export interface FindMissingBlobsResponse {
    missingBlobDigests: Digest[];
}
export interface BatchUpdateBlobsRequest {
    instanceName: string;
    requests: BatchUpdateBlobsRequest_Request[];
    digestFunction: DigestFunction_Value;
}
/** One blob to upload. */
export interface BatchUpdateBlobsRequest_Request {
    digest: Digest | undefined;
    data: Buffer;
    /** Encoding of data (IDENTITY when unset). */
    compressor: Compressor_Value;
}
export interface BatchUpdateBlobsResponse {
    responses: BatchUpdateBlobsResponse_Response[];
}
/** Per-blob upload outcome. */
export interface BatchUpdateBlobsResponse_Response {
    digest: Digest | undefined;
    status: Status | undefined;
}
export interface BatchReadBlobsRequest {
    instanceName: string;
    digests: Digest[];
    /** Encodings the client can accept (IDENTITY is always allowed). */
    acceptableCompressors: Compressor_Value[];
    digestFunction: DigestFunction_Value;
}
export interface BatchReadBlobsResponse {
    responses: BatchReadBlobsResponse_Response[];
}
/** Per-blob download outcome. */
export interface BatchReadBlobsResponse_Response {
    digest: Digest | undefined;
    data: Buffer;
    /** Encoding of data. */
    compressor: Compressor_Value;
    status: Status | undefined;
}
export interface GetTreeRequest {
    instanceName: string;
    rootDigest: Digest | undefined;
    pageSize: number;
    pageToken: string;
    digestFunction: DigestFunction_Value;
}
export interface GetTreeResponse {
    directories: Directory[];
    /** Empty on the last page. */
    nextPageToken: string;
}
/** An ordered list of chunk digests, itself storable in the CAS. */
export interface ChunkList {
    chunkDigests: Digest[];
}
export interface SplitBlobRequest {
    instanceName: string;
    blobDigest: Digest | undefined;
    digestFunction: DigestFunction_Value;
    /** Chunking algorithm the client would like (server may pick another). */
    chunkingFunction: ChunkingFunction_Value;
}
export interface SplitBlobResponse {
    /** Chunks in concatenation order (or a prefix of indirect_chunk_list). */
    chunkDigests: Digest[];
    chunkingFunction: ChunkingFunction_Value;
    /** Optional digest of a ChunkList holding the full chunk list. */
    indirectChunkList: Digest | undefined;
}
export interface SpliceBlobRequest {
    instanceName: string;
    /** Expected digest of the assembled blob. */
    blobDigest: Digest | undefined;
    /** Chunks in concatenation order (or a prefix of indirect_chunk_list). */
    chunkDigests: Digest[];
    digestFunction: DigestFunction_Value;
    chunkingFunction: ChunkingFunction_Value;
    /** Optional digest of a ChunkList holding the full chunk list. */
    indirectChunkList: Digest | undefined;
}
export interface SpliceBlobResponse {
    /** Digest computed by the server for the assembled blob. */
    blobDigest: Digest | undefined;
}
export interface GetCapabilitiesRequest {
    instanceName: string;
}
export interface ServerCapabilities {
    cacheCapabilities: CacheCapabilities | undefined;
    executionCapabilities: ExecutionCapabilities | undefined;
    /** Supported API version range. */
    deprecatedApiVersion: SemVer | undefined;
    lowApiVersion: SemVer | undefined;
    highApiVersion: SemVer | undefined;
}
/** Wrapper for the hash function enum. */
export interface DigestFunction {
}
export declare const DigestFunction_Value: {
    readonly UNKNOWN: 0;
    readonly SHA256: 1;
    readonly SHA1: 2;
    readonly MD5: 3;
    readonly VSO: 4;
    readonly SHA384: 5;
    readonly SHA512: 6;
    readonly MURMUR3: 7;
    readonly SHA256TREE: 8;
    readonly BLAKE3: 9;
    readonly GITSHA1: 10;
    readonly UNRECOGNIZED: -1;
};
export type DigestFunction_Value = typeof DigestFunction_Value[keyof typeof DigestFunction_Value];
export declare namespace DigestFunction_Value {
    type UNKNOWN = typeof DigestFunction_Value.UNKNOWN;
    type SHA256 = typeof DigestFunction_Value.SHA256;
    type SHA1 = typeof DigestFunction_Value.SHA1;
    type MD5 = typeof DigestFunction_Value.MD5;
    type VSO = typeof DigestFunction_Value.VSO;
    type SHA384 = typeof DigestFunction_Value.SHA384;
    type SHA512 = typeof DigestFunction_Value.SHA512;
    type MURMUR3 = typeof DigestFunction_Value.MURMUR3;
    type SHA256TREE = typeof DigestFunction_Value.SHA256TREE;
    type BLAKE3 = typeof DigestFunction_Value.BLAKE3;
    type GITSHA1 = typeof DigestFunction_Value.GITSHA1;
    type UNRECOGNIZED = typeof DigestFunction_Value.UNRECOGNIZED;
}
export declare function digestFunction_ValueFromJSON(object: any): DigestFunction_Value;
export declare function digestFunction_ValueToJSON(object: DigestFunction_Value): string;
/** Wrapper for the content-defined chunking algorithm enum. */
export interface ChunkingFunction {
}
export declare const ChunkingFunction_Value: {
    readonly UNKNOWN: 0;
    readonly FAST_CDC_2020: 1;
    readonly REP_MAX_CDC: 2;
    readonly UNRECOGNIZED: -1;
};
export type ChunkingFunction_Value = typeof ChunkingFunction_Value[keyof typeof ChunkingFunction_Value];
export declare namespace ChunkingFunction_Value {
    type UNKNOWN = typeof ChunkingFunction_Value.UNKNOWN;
    type FAST_CDC_2020 = typeof ChunkingFunction_Value.FAST_CDC_2020;
    type REP_MAX_CDC = typeof ChunkingFunction_Value.REP_MAX_CDC;
    type UNRECOGNIZED = typeof ChunkingFunction_Value.UNRECOGNIZED;
}
export declare function chunkingFunction_ValueFromJSON(object: any): ChunkingFunction_Value;
export declare function chunkingFunction_ValueToJSON(object: ChunkingFunction_Value): string;
export interface ActionCacheUpdateCapabilities {
    updateEnabled: boolean;
}
/** Allowed priority ranges. */
export interface PriorityCapabilities {
    priorities: PriorityCapabilities_PriorityRange[];
}
/** Inclusive range. */
export interface PriorityCapabilities_PriorityRange {
    minPriority: number;
    maxPriority: number;
}
/** Wrapper for the absolute-symlink policy enum. */
export interface SymlinkAbsolutePathStrategy {
}
export declare const SymlinkAbsolutePathStrategy_Value: {
    readonly UNKNOWN: 0;
    readonly DISALLOWED: 1;
    readonly ALLOWED: 2;
    readonly UNRECOGNIZED: -1;
};
export type SymlinkAbsolutePathStrategy_Value = typeof SymlinkAbsolutePathStrategy_Value[keyof typeof SymlinkAbsolutePathStrategy_Value];
export declare namespace SymlinkAbsolutePathStrategy_Value {
    type UNKNOWN = typeof SymlinkAbsolutePathStrategy_Value.UNKNOWN;
    type DISALLOWED = typeof SymlinkAbsolutePathStrategy_Value.DISALLOWED;
    type ALLOWED = typeof SymlinkAbsolutePathStrategy_Value.ALLOWED;
    type UNRECOGNIZED = typeof SymlinkAbsolutePathStrategy_Value.UNRECOGNIZED;
}
export declare function symlinkAbsolutePathStrategy_ValueFromJSON(object: any): SymlinkAbsolutePathStrategy_Value;
export declare function symlinkAbsolutePathStrategy_ValueToJSON(object: SymlinkAbsolutePathStrategy_Value): string;
/** Wrapper for the compression format enum. */
export interface Compressor {
}
export declare const Compressor_Value: {
    readonly IDENTITY: 0;
    readonly ZSTD: 1;
    readonly DEFLATE: 2;
    readonly BROTLI: 3;
    readonly UNRECOGNIZED: -1;
};
export type Compressor_Value = typeof Compressor_Value[keyof typeof Compressor_Value];
export declare namespace Compressor_Value {
    type IDENTITY = typeof Compressor_Value.IDENTITY;
    type ZSTD = typeof Compressor_Value.ZSTD;
    type DEFLATE = typeof Compressor_Value.DEFLATE;
    type BROTLI = typeof Compressor_Value.BROTLI;
    type UNRECOGNIZED = typeof Compressor_Value.UNRECOGNIZED;
}
export declare function compressor_ValueFromJSON(object: any): Compressor_Value;
export declare function compressor_ValueToJSON(object: Compressor_Value): string;
export interface CacheCapabilities {
    digestFunctions: DigestFunction_Value[];
    actionCacheUpdateCapabilities: ActionCacheUpdateCapabilities | undefined;
    cachePriorityCapabilities: PriorityCapabilities | undefined;
    /** 0 means no explicit limit. */
    maxBatchTotalSizeBytes: number;
    symlinkAbsolutePathStrategy: SymlinkAbsolutePathStrategy_Value;
    /** Compressors for ByteStream "compressed-blobs" resources. */
    supportedCompressors: Compressor_Value[];
    /** Compressors accepted inline in BatchUpdateBlobs. */
    supportedBatchUpdateCompressors: Compressor_Value[];
    /** Largest accepted CAS blob; 0 means no limit. */
    maxCasBlobSizeBytes: number;
    splitBlobSupport: boolean;
    spliceBlobSupport: boolean;
    /** Present when FAST_CDC_2020 chunking is supported. */
    fastCdc2020Params: FastCdc2020Params | undefined;
    /** Present when REP_MAX_CDC chunking is supported. */
    repMaxCdcParams: RepMaxCdcParams | undefined;
}
/** Parameters for FastCDC (2020) chunking. */
export interface FastCdc2020Params {
    avgChunkSizeBytes: number;
    seed: number;
}
/** Parameters for RepMaxCDC chunking. */
export interface RepMaxCdcParams {
    minChunkSizeBytes: number;
    horizonSizeBytes: number;
}
export interface ExecutionCapabilities {
    /** Legacy single digest function. */
    digestFunction: DigestFunction_Value;
    execEnabled: boolean;
    executionPriorityCapabilities: PriorityCapabilities | undefined;
    supportedNodeProperties: string[];
    digestFunctions: DigestFunction_Value[];
}
export interface ToolDetails {
    toolName: string;
    toolVersion: string;
}
export interface RequestMetadata {
    toolDetails: ToolDetails | undefined;
    actionId: string;
    toolInvocationId: string;
    correlatedInvocationsId: string;
    actionMnemonic: string;
    targetId: string;
    configurationId: string;
}
export declare const Action: MessageFns<Action>;
export declare const Command: MessageFns<Command>;
export declare const Command_EnvironmentVariable: MessageFns<Command_EnvironmentVariable>;
export declare const Platform: MessageFns<Platform>;
export declare const Platform_Property: MessageFns<Platform_Property>;
export declare const Directory: MessageFns<Directory>;
export declare const NodeProperty: MessageFns<NodeProperty>;
export declare const NodeProperties: MessageFns<NodeProperties>;
export declare const FileNode: MessageFns<FileNode>;
export declare const DirectoryNode: MessageFns<DirectoryNode>;
export declare const SymlinkNode: MessageFns<SymlinkNode>;
export declare const Digest: MessageFns<Digest>;
export declare const ExecutedActionMetadata: MessageFns<ExecutedActionMetadata>;
export declare const ActionResult: MessageFns<ActionResult>;
export declare const OutputFile: MessageFns<OutputFile>;
export declare const Tree: MessageFns<Tree>;
export declare const OutputDirectory: MessageFns<OutputDirectory>;
export declare const OutputSymlink: MessageFns<OutputSymlink>;
export declare const ExecutionPolicy: MessageFns<ExecutionPolicy>;
export declare const ResultsCachePolicy: MessageFns<ResultsCachePolicy>;
export declare const ExecuteRequest: MessageFns<ExecuteRequest>;
export declare const LogFile: MessageFns<LogFile>;
export declare const ExecuteResponse: MessageFns<ExecuteResponse>;
export declare const ExecuteResponse_ServerLogsEntry: MessageFns<ExecuteResponse_ServerLogsEntry>;
export declare const ExecutionStage: MessageFns<ExecutionStage>;
export declare const ExecuteOperationMetadata: MessageFns<ExecuteOperationMetadata>;
export declare const WaitExecutionRequest: MessageFns<WaitExecutionRequest>;
export declare const GetActionResultRequest: MessageFns<GetActionResultRequest>;
export declare const UpdateActionResultRequest: MessageFns<UpdateActionResultRequest>;
export declare const FindMissingBlobsRequest: MessageFns<FindMissingBlobsRequest>;
export declare const FindMissingBlobsResponse: MessageFns<FindMissingBlobsResponse>;
export declare const BatchUpdateBlobsRequest: MessageFns<BatchUpdateBlobsRequest>;
export declare const BatchUpdateBlobsRequest_Request: MessageFns<BatchUpdateBlobsRequest_Request>;
export declare const BatchUpdateBlobsResponse: MessageFns<BatchUpdateBlobsResponse>;
export declare const BatchUpdateBlobsResponse_Response: MessageFns<BatchUpdateBlobsResponse_Response>;
export declare const BatchReadBlobsRequest: MessageFns<BatchReadBlobsRequest>;
export declare const BatchReadBlobsResponse: MessageFns<BatchReadBlobsResponse>;
export declare const BatchReadBlobsResponse_Response: MessageFns<BatchReadBlobsResponse_Response>;
export declare const GetTreeRequest: MessageFns<GetTreeRequest>;
export declare const GetTreeResponse: MessageFns<GetTreeResponse>;
export declare const ChunkList: MessageFns<ChunkList>;
export declare const SplitBlobRequest: MessageFns<SplitBlobRequest>;
export declare const SplitBlobResponse: MessageFns<SplitBlobResponse>;
export declare const SpliceBlobRequest: MessageFns<SpliceBlobRequest>;
export declare const SpliceBlobResponse: MessageFns<SpliceBlobResponse>;
export declare const GetCapabilitiesRequest: MessageFns<GetCapabilitiesRequest>;
export declare const ServerCapabilities: MessageFns<ServerCapabilities>;
export declare const DigestFunction: MessageFns<DigestFunction>;
export declare const ChunkingFunction: MessageFns<ChunkingFunction>;
export declare const ActionCacheUpdateCapabilities: MessageFns<ActionCacheUpdateCapabilities>;
export declare const PriorityCapabilities: MessageFns<PriorityCapabilities>;
export declare const PriorityCapabilities_PriorityRange: MessageFns<PriorityCapabilities_PriorityRange>;
export declare const SymlinkAbsolutePathStrategy: MessageFns<SymlinkAbsolutePathStrategy>;
export declare const Compressor: MessageFns<Compressor>;
export declare const CacheCapabilities: MessageFns<CacheCapabilities>;
export declare const FastCdc2020Params: MessageFns<FastCdc2020Params>;
export declare const RepMaxCdcParams: MessageFns<RepMaxCdcParams>;
export declare const ExecutionCapabilities: MessageFns<ExecutionCapabilities>;
export declare const ToolDetails: MessageFns<ToolDetails>;
export declare const RequestMetadata: MessageFns<RequestMetadata>;
/** Runs actions on remote workers. */
export type ExecutionService = typeof ExecutionService;
export declare const ExecutionService: {
    /** Starts (or joins) execution of an action; streams operation updates. */
    readonly execute: {
        readonly path: "/build.bazel.remote.execution.v2.Execution/Execute";
        readonly requestStream: false;
        readonly responseStream: true;
        readonly requestSerialize: (value: ExecuteRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => ExecuteRequest;
        readonly responseSerialize: (value: Operation) => Buffer;
        readonly responseDeserialize: (value: Buffer) => Operation;
    };
    /** Re-attaches to a running operation by name; streams operation updates. */
    readonly waitExecution: {
        readonly path: "/build.bazel.remote.execution.v2.Execution/WaitExecution";
        readonly requestStream: false;
        readonly responseStream: true;
        readonly requestSerialize: (value: WaitExecutionRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => WaitExecutionRequest;
        readonly responseSerialize: (value: Operation) => Buffer;
        readonly responseDeserialize: (value: Buffer) => Operation;
    };
};
export interface ExecutionServer extends UntypedServiceImplementation {
    /** Starts (or joins) execution of an action; streams operation updates. */
    execute: handleServerStreamingCall<ExecuteRequest, Operation>;
    /** Re-attaches to a running operation by name; streams operation updates. */
    waitExecution: handleServerStreamingCall<WaitExecutionRequest, Operation>;
}
export interface ExecutionClient extends Client {
    /** Starts (or joins) execution of an action; streams operation updates. */
    execute(request: ExecuteRequest, options?: Partial<CallOptions>): ClientReadableStream<Operation>;
    execute(request: ExecuteRequest, metadata?: Metadata, options?: Partial<CallOptions>): ClientReadableStream<Operation>;
    /** Re-attaches to a running operation by name; streams operation updates. */
    waitExecution(request: WaitExecutionRequest, options?: Partial<CallOptions>): ClientReadableStream<Operation>;
    waitExecution(request: WaitExecutionRequest, metadata?: Metadata, options?: Partial<CallOptions>): ClientReadableStream<Operation>;
}
export declare const ExecutionClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): ExecutionClient;
    service: typeof ExecutionService;
    serviceName: string;
};
/** Maps action digests to their cached results. */
export type ActionCacheService = typeof ActionCacheService;
export declare const ActionCacheService: {
    /** Looks up a cached result; NOT_FOUND on miss. */
    readonly getActionResult: {
        readonly path: "/build.bazel.remote.execution.v2.ActionCache/GetActionResult";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: GetActionResultRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => GetActionResultRequest;
        readonly responseSerialize: (value: ActionResult) => Buffer;
        readonly responseDeserialize: (value: Buffer) => ActionResult;
    };
    /** Stores a result for an action. */
    readonly updateActionResult: {
        readonly path: "/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: UpdateActionResultRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => UpdateActionResultRequest;
        readonly responseSerialize: (value: ActionResult) => Buffer;
        readonly responseDeserialize: (value: Buffer) => ActionResult;
    };
};
export interface ActionCacheServer extends UntypedServiceImplementation {
    /** Looks up a cached result; NOT_FOUND on miss. */
    getActionResult: handleUnaryCall<GetActionResultRequest, ActionResult>;
    /** Stores a result for an action. */
    updateActionResult: handleUnaryCall<UpdateActionResultRequest, ActionResult>;
}
export interface ActionCacheClient extends Client {
    /** Looks up a cached result; NOT_FOUND on miss. */
    getActionResult(request: GetActionResultRequest, callback: (error: ServiceError | null, response: ActionResult) => void): ClientUnaryCall;
    getActionResult(request: GetActionResultRequest, metadata: Metadata, callback: (error: ServiceError | null, response: ActionResult) => void): ClientUnaryCall;
    getActionResult(request: GetActionResultRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: ActionResult) => void): ClientUnaryCall;
    /** Stores a result for an action. */
    updateActionResult(request: UpdateActionResultRequest, callback: (error: ServiceError | null, response: ActionResult) => void): ClientUnaryCall;
    updateActionResult(request: UpdateActionResultRequest, metadata: Metadata, callback: (error: ServiceError | null, response: ActionResult) => void): ClientUnaryCall;
    updateActionResult(request: UpdateActionResultRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: ActionResult) => void): ClientUnaryCall;
}
export declare const ActionCacheClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): ActionCacheClient;
    service: typeof ActionCacheService;
    serviceName: string;
};
/** Content-addressed blob storage (large blobs go through ByteStream). */
export type ContentAddressableStorageService = typeof ContentAddressableStorageService;
export declare const ContentAddressableStorageService: {
    /** Reports which of the given digests are absent. */
    readonly findMissingBlobs: {
        readonly path: "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: FindMissingBlobsRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => FindMissingBlobsRequest;
        readonly responseSerialize: (value: FindMissingBlobsResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => FindMissingBlobsResponse;
    };
    /** Uploads several small blobs in one call. */
    readonly batchUpdateBlobs: {
        readonly path: "/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchUpdateBlobs";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: BatchUpdateBlobsRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => BatchUpdateBlobsRequest;
        readonly responseSerialize: (value: BatchUpdateBlobsResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => BatchUpdateBlobsResponse;
    };
    /** Downloads several small blobs in one call. */
    readonly batchReadBlobs: {
        readonly path: "/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchReadBlobs";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: BatchReadBlobsRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => BatchReadBlobsRequest;
        readonly responseSerialize: (value: BatchReadBlobsResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => BatchReadBlobsResponse;
    };
    /** Streams every Directory reachable from a root, in pages. */
    readonly getTree: {
        readonly path: "/build.bazel.remote.execution.v2.ContentAddressableStorage/GetTree";
        readonly requestStream: false;
        readonly responseStream: true;
        readonly requestSerialize: (value: GetTreeRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => GetTreeRequest;
        readonly responseSerialize: (value: GetTreeResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => GetTreeResponse;
    };
    /** Returns the chunk list that makes up a stored blob. */
    readonly splitBlob: {
        readonly path: "/build.bazel.remote.execution.v2.ContentAddressableStorage/SplitBlob";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: SplitBlobRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => SplitBlobRequest;
        readonly responseSerialize: (value: SplitBlobResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => SplitBlobResponse;
    };
    /** Records that a blob is the concatenation of already-stored chunks. */
    readonly spliceBlob: {
        readonly path: "/build.bazel.remote.execution.v2.ContentAddressableStorage/SpliceBlob";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: SpliceBlobRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => SpliceBlobRequest;
        readonly responseSerialize: (value: SpliceBlobResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => SpliceBlobResponse;
    };
};
export interface ContentAddressableStorageServer extends UntypedServiceImplementation {
    /** Reports which of the given digests are absent. */
    findMissingBlobs: handleUnaryCall<FindMissingBlobsRequest, FindMissingBlobsResponse>;
    /** Uploads several small blobs in one call. */
    batchUpdateBlobs: handleUnaryCall<BatchUpdateBlobsRequest, BatchUpdateBlobsResponse>;
    /** Downloads several small blobs in one call. */
    batchReadBlobs: handleUnaryCall<BatchReadBlobsRequest, BatchReadBlobsResponse>;
    /** Streams every Directory reachable from a root, in pages. */
    getTree: handleServerStreamingCall<GetTreeRequest, GetTreeResponse>;
    /** Returns the chunk list that makes up a stored blob. */
    splitBlob: handleUnaryCall<SplitBlobRequest, SplitBlobResponse>;
    /** Records that a blob is the concatenation of already-stored chunks. */
    spliceBlob: handleUnaryCall<SpliceBlobRequest, SpliceBlobResponse>;
}
export interface ContentAddressableStorageClient extends Client {
    /** Reports which of the given digests are absent. */
    findMissingBlobs(request: FindMissingBlobsRequest, callback: (error: ServiceError | null, response: FindMissingBlobsResponse) => void): ClientUnaryCall;
    findMissingBlobs(request: FindMissingBlobsRequest, metadata: Metadata, callback: (error: ServiceError | null, response: FindMissingBlobsResponse) => void): ClientUnaryCall;
    findMissingBlobs(request: FindMissingBlobsRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: FindMissingBlobsResponse) => void): ClientUnaryCall;
    /** Uploads several small blobs in one call. */
    batchUpdateBlobs(request: BatchUpdateBlobsRequest, callback: (error: ServiceError | null, response: BatchUpdateBlobsResponse) => void): ClientUnaryCall;
    batchUpdateBlobs(request: BatchUpdateBlobsRequest, metadata: Metadata, callback: (error: ServiceError | null, response: BatchUpdateBlobsResponse) => void): ClientUnaryCall;
    batchUpdateBlobs(request: BatchUpdateBlobsRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: BatchUpdateBlobsResponse) => void): ClientUnaryCall;
    /** Downloads several small blobs in one call. */
    batchReadBlobs(request: BatchReadBlobsRequest, callback: (error: ServiceError | null, response: BatchReadBlobsResponse) => void): ClientUnaryCall;
    batchReadBlobs(request: BatchReadBlobsRequest, metadata: Metadata, callback: (error: ServiceError | null, response: BatchReadBlobsResponse) => void): ClientUnaryCall;
    batchReadBlobs(request: BatchReadBlobsRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: BatchReadBlobsResponse) => void): ClientUnaryCall;
    /** Streams every Directory reachable from a root, in pages. */
    getTree(request: GetTreeRequest, options?: Partial<CallOptions>): ClientReadableStream<GetTreeResponse>;
    getTree(request: GetTreeRequest, metadata?: Metadata, options?: Partial<CallOptions>): ClientReadableStream<GetTreeResponse>;
    /** Returns the chunk list that makes up a stored blob. */
    splitBlob(request: SplitBlobRequest, callback: (error: ServiceError | null, response: SplitBlobResponse) => void): ClientUnaryCall;
    splitBlob(request: SplitBlobRequest, metadata: Metadata, callback: (error: ServiceError | null, response: SplitBlobResponse) => void): ClientUnaryCall;
    splitBlob(request: SplitBlobRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: SplitBlobResponse) => void): ClientUnaryCall;
    /** Records that a blob is the concatenation of already-stored chunks. */
    spliceBlob(request: SpliceBlobRequest, callback: (error: ServiceError | null, response: SpliceBlobResponse) => void): ClientUnaryCall;
    spliceBlob(request: SpliceBlobRequest, metadata: Metadata, callback: (error: ServiceError | null, response: SpliceBlobResponse) => void): ClientUnaryCall;
    spliceBlob(request: SpliceBlobRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: SpliceBlobResponse) => void): ClientUnaryCall;
}
export declare const ContentAddressableStorageClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): ContentAddressableStorageClient;
    service: typeof ContentAddressableStorageService;
    serviceName: string;
};
/** Advertises what the server (or an instance) supports. */
export type CapabilitiesService = typeof CapabilitiesService;
export declare const CapabilitiesService: {
    readonly getCapabilities: {
        readonly path: "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: GetCapabilitiesRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => GetCapabilitiesRequest;
        readonly responseSerialize: (value: ServerCapabilities) => Buffer;
        readonly responseDeserialize: (value: Buffer) => ServerCapabilities;
    };
};
export interface CapabilitiesServer extends UntypedServiceImplementation {
    getCapabilities: handleUnaryCall<GetCapabilitiesRequest, ServerCapabilities>;
}
export interface CapabilitiesClient extends Client {
    getCapabilities(request: GetCapabilitiesRequest, callback: (error: ServiceError | null, response: ServerCapabilities) => void): ClientUnaryCall;
    getCapabilities(request: GetCapabilitiesRequest, metadata: Metadata, callback: (error: ServiceError | null, response: ServerCapabilities) => void): ClientUnaryCall;
    getCapabilities(request: GetCapabilitiesRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: ServerCapabilities) => void): ClientUnaryCall;
}
export declare const CapabilitiesClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): CapabilitiesClient;
    service: typeof CapabilitiesService;
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
