import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CallOptions, type ChannelCredentials, Client, type ClientOptions, type ClientUnaryCall, type handleUnaryCall, type Metadata, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { Any } from "../protobuf/any.js";
import { Duration } from "../protobuf/duration.js";
import { Empty } from "../protobuf/empty.js";
import { Status } from "../rpc/status.js";
export declare const protobufPackage = "google.longrunning";
export declare const protobufFileName = "google/longrunning/operations.proto";
/**
 * This resource represents a long-running operation that is the result of a
 * network API call.
 */
export interface Operation {
    /**
     * The server-assigned name, which is only unique within the same service that
     * originally returns it. If you use the default HTTP mapping, the
     * `name` should be a resource name ending with `operations/{unique_id}`.
     */
    name: string;
    /**
     * Service-specific metadata associated with the operation.  It typically
     * contains progress information and common metadata such as create time.
     * Some services might not provide such metadata.  Any method that returns a
     * long-running operation should document the metadata type, if any.
     */
    metadata: Any | undefined;
    /**
     * If the value is `false`, it means the operation is still in progress.
     * If `true`, the operation is completed, and either `error` or `response` is
     * available.
     */
    done: boolean;
    /** The error result of the operation in case of failure or cancellation. */
    error?: Status | undefined;
    /**
     * The normal, successful response of the operation.  If the original
     * method returns no data on success, such as `Delete`, the response is
     * `google.protobuf.Empty`.  If the original method is standard
     * `Get`/`Create`/`Update`, the response should be the resource.  For other
     * methods, the response should have the type `XxxResponse`, where `Xxx`
     * is the original method name.  For example, if the original method name
     * is `TakeSnapshot()`, the inferred response type is
     * `TakeSnapshotResponse`.
     */
    response?: Any | undefined;
}
/**
 * The request message for
 * [Operations.GetOperation][google.longrunning.Operations.GetOperation].
 */
export interface GetOperationRequest {
    /** The name of the operation resource. */
    name: string;
}
/**
 * The request message for
 * [Operations.ListOperations][google.longrunning.Operations.ListOperations].
 */
export interface ListOperationsRequest {
    /** The name of the operation's parent resource. */
    name: string;
    /** The standard list filter. */
    filter: string;
    /** The standard list page size. */
    pageSize: number;
    /** The standard list page token. */
    pageToken: string;
    /**
     * When set to `true`, operations that are reachable are returned as normal,
     * and those that are unreachable are returned in the
     * [ListOperationsResponse.unreachable] field.
     *
     * This can only be `true` when reading across collections e.g. when `parent`
     * is set to `"projects/example/locations/-"`.
     *
     * This field is not by default supported and will result in an
     * `UNIMPLEMENTED` error if set unless explicitly documented otherwise in
     * service or product specific documentation.
     */
    returnPartialSuccess: boolean;
}
/**
 * The response message for
 * [Operations.ListOperations][google.longrunning.Operations.ListOperations].
 */
export interface ListOperationsResponse {
    /** A list of operations that matches the specified filter in the request. */
    operations: Operation[];
    /** The standard List next-page token. */
    nextPageToken: string;
    /**
     * Unordered list. Unreachable resources. Populated when the request sets
     * `ListOperationsRequest.return_partial_success` and reads across
     * collections e.g. when attempting to list all resources across all supported
     * locations.
     */
    unreachable: string[];
}
/**
 * The request message for
 * [Operations.CancelOperation][google.longrunning.Operations.CancelOperation].
 */
export interface CancelOperationRequest {
    /** The name of the operation resource to be cancelled. */
    name: string;
}
/**
 * The request message for
 * [Operations.DeleteOperation][google.longrunning.Operations.DeleteOperation].
 */
export interface DeleteOperationRequest {
    /** The name of the operation resource to be deleted. */
    name: string;
}
/**
 * The request message for
 * [Operations.WaitOperation][google.longrunning.Operations.WaitOperation].
 */
export interface WaitOperationRequest {
    /** The name of the operation resource to wait on. */
    name: string;
    /**
     * The maximum duration to wait before timing out. If left blank, the wait
     * will be at most the time permitted by the underlying HTTP/RPC protocol.
     * If RPC context deadline is also specified, the shorter one will be used.
     */
    timeout: Duration | undefined;
}
/**
 * A message representing the message types used by a long-running operation.
 *
 * Example:
 *
 *     rpc Export(ExportRequest) returns (google.longrunning.Operation) {
 *       option (google.longrunning.operation_info) = {
 *         response_type: "ExportResponse"
 *         metadata_type: "ExportMetadata"
 *       };
 *     }
 */
export interface OperationInfo {
    /**
     * Required. The message name of the primary return type for this
     * long-running operation.
     * This type will be used to deserialize the LRO's response.
     *
     * If the response is in a different package from the rpc, a fully-qualified
     * message name must be used (e.g. `google.protobuf.Struct`).
     *
     * Note: Altering this value constitutes a breaking change.
     */
    responseType: string;
    /**
     * Required. The message name of the metadata type for this long-running
     * operation.
     *
     * If the response is in a different package from the rpc, a fully-qualified
     * message name must be used (e.g. `google.protobuf.Struct`).
     *
     * Note: Altering this value constitutes a breaking change.
     */
    metadataType: string;
}
export declare const Operation: MessageFns<Operation>;
export declare const GetOperationRequest: MessageFns<GetOperationRequest>;
export declare const ListOperationsRequest: MessageFns<ListOperationsRequest>;
export declare const ListOperationsResponse: MessageFns<ListOperationsResponse>;
export declare const CancelOperationRequest: MessageFns<CancelOperationRequest>;
export declare const DeleteOperationRequest: MessageFns<DeleteOperationRequest>;
export declare const WaitOperationRequest: MessageFns<WaitOperationRequest>;
export declare const OperationInfo: MessageFns<OperationInfo>;
/**
 * Manages long-running operations with an API service.
 *
 * When an API method normally takes long time to complete, it can be designed
 * to return [Operation][google.longrunning.Operation] to the client, and the
 * client can use this interface to receive the real response asynchronously by
 * polling the operation resource, or pass the operation resource to another API
 * (such as Pub/Sub API) to receive the response.  Any API service that returns
 * long-running operations should implement the `Operations` interface so
 * developers can have a consistent client experience.
 */
export type OperationsService = typeof OperationsService;
export declare const OperationsService: {
    /**
     * Lists operations that match the specified filter in the request. If the
     * server doesn't support this method, it returns `UNIMPLEMENTED`.
     */
    readonly listOperations: {
        readonly path: "/google.longrunning.Operations/ListOperations";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: ListOperationsRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => ListOperationsRequest;
        readonly responseSerialize: (value: ListOperationsResponse) => Buffer;
        readonly responseDeserialize: (value: Buffer) => ListOperationsResponse;
    };
    /**
     * Gets the latest state of a long-running operation.  Clients can use this
     * method to poll the operation result at intervals as recommended by the API
     * service.
     */
    readonly getOperation: {
        readonly path: "/google.longrunning.Operations/GetOperation";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: GetOperationRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => GetOperationRequest;
        readonly responseSerialize: (value: Operation) => Buffer;
        readonly responseDeserialize: (value: Buffer) => Operation;
    };
    /**
     * Deletes a long-running operation. This method indicates that the client is
     * no longer interested in the operation result. It does not cancel the
     * operation. If the server doesn't support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.
     */
    readonly deleteOperation: {
        readonly path: "/google.longrunning.Operations/DeleteOperation";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: DeleteOperationRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => DeleteOperationRequest;
        readonly responseSerialize: (value: Empty) => Buffer;
        readonly responseDeserialize: (value: Buffer) => Empty;
    };
    /**
     * Starts asynchronous cancellation on a long-running operation.  The server
     * makes a best effort to cancel the operation, but success is not
     * guaranteed.  If the server doesn't support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.  Clients can use
     * [Operations.GetOperation][google.longrunning.Operations.GetOperation] or
     * other methods to check whether the cancellation succeeded or whether the
     * operation completed despite cancellation. On successful cancellation,
     * the operation is not deleted; instead, it becomes an operation with
     * an [Operation.error][google.longrunning.Operation.error] value with a
     * [google.rpc.Status.code][google.rpc.Status.code] of `1`, corresponding to
     * `Code.CANCELLED`.
     */
    readonly cancelOperation: {
        readonly path: "/google.longrunning.Operations/CancelOperation";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: CancelOperationRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => CancelOperationRequest;
        readonly responseSerialize: (value: Empty) => Buffer;
        readonly responseDeserialize: (value: Buffer) => Empty;
    };
    /**
     * Waits until the specified long-running operation is done or reaches at most
     * a specified timeout, returning the latest state.  If the operation is
     * already done, the latest state is immediately returned.  If the timeout
     * specified is greater than the default HTTP/RPC timeout, the HTTP/RPC
     * timeout is used.  If the server does not support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.
     * Note that this method is on a best-effort basis.  It may return the latest
     * state before the specified timeout (including immediately), meaning even an
     * immediate response is no guarantee that the operation is done.
     */
    readonly waitOperation: {
        readonly path: "/google.longrunning.Operations/WaitOperation";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: WaitOperationRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => WaitOperationRequest;
        readonly responseSerialize: (value: Operation) => Buffer;
        readonly responseDeserialize: (value: Buffer) => Operation;
    };
};
export interface OperationsServer extends UntypedServiceImplementation {
    /**
     * Lists operations that match the specified filter in the request. If the
     * server doesn't support this method, it returns `UNIMPLEMENTED`.
     */
    listOperations: handleUnaryCall<ListOperationsRequest, ListOperationsResponse>;
    /**
     * Gets the latest state of a long-running operation.  Clients can use this
     * method to poll the operation result at intervals as recommended by the API
     * service.
     */
    getOperation: handleUnaryCall<GetOperationRequest, Operation>;
    /**
     * Deletes a long-running operation. This method indicates that the client is
     * no longer interested in the operation result. It does not cancel the
     * operation. If the server doesn't support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.
     */
    deleteOperation: handleUnaryCall<DeleteOperationRequest, Empty>;
    /**
     * Starts asynchronous cancellation on a long-running operation.  The server
     * makes a best effort to cancel the operation, but success is not
     * guaranteed.  If the server doesn't support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.  Clients can use
     * [Operations.GetOperation][google.longrunning.Operations.GetOperation] or
     * other methods to check whether the cancellation succeeded or whether the
     * operation completed despite cancellation. On successful cancellation,
     * the operation is not deleted; instead, it becomes an operation with
     * an [Operation.error][google.longrunning.Operation.error] value with a
     * [google.rpc.Status.code][google.rpc.Status.code] of `1`, corresponding to
     * `Code.CANCELLED`.
     */
    cancelOperation: handleUnaryCall<CancelOperationRequest, Empty>;
    /**
     * Waits until the specified long-running operation is done or reaches at most
     * a specified timeout, returning the latest state.  If the operation is
     * already done, the latest state is immediately returned.  If the timeout
     * specified is greater than the default HTTP/RPC timeout, the HTTP/RPC
     * timeout is used.  If the server does not support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.
     * Note that this method is on a best-effort basis.  It may return the latest
     * state before the specified timeout (including immediately), meaning even an
     * immediate response is no guarantee that the operation is done.
     */
    waitOperation: handleUnaryCall<WaitOperationRequest, Operation>;
}
export interface OperationsClient extends Client {
    /**
     * Lists operations that match the specified filter in the request. If the
     * server doesn't support this method, it returns `UNIMPLEMENTED`.
     */
    listOperations(request: ListOperationsRequest, callback: (error: ServiceError | null, response: ListOperationsResponse) => void): ClientUnaryCall;
    listOperations(request: ListOperationsRequest, metadata: Metadata, callback: (error: ServiceError | null, response: ListOperationsResponse) => void): ClientUnaryCall;
    listOperations(request: ListOperationsRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: ListOperationsResponse) => void): ClientUnaryCall;
    /**
     * Gets the latest state of a long-running operation.  Clients can use this
     * method to poll the operation result at intervals as recommended by the API
     * service.
     */
    getOperation(request: GetOperationRequest, callback: (error: ServiceError | null, response: Operation) => void): ClientUnaryCall;
    getOperation(request: GetOperationRequest, metadata: Metadata, callback: (error: ServiceError | null, response: Operation) => void): ClientUnaryCall;
    getOperation(request: GetOperationRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: Operation) => void): ClientUnaryCall;
    /**
     * Deletes a long-running operation. This method indicates that the client is
     * no longer interested in the operation result. It does not cancel the
     * operation. If the server doesn't support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.
     */
    deleteOperation(request: DeleteOperationRequest, callback: (error: ServiceError | null, response: Empty) => void): ClientUnaryCall;
    deleteOperation(request: DeleteOperationRequest, metadata: Metadata, callback: (error: ServiceError | null, response: Empty) => void): ClientUnaryCall;
    deleteOperation(request: DeleteOperationRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: Empty) => void): ClientUnaryCall;
    /**
     * Starts asynchronous cancellation on a long-running operation.  The server
     * makes a best effort to cancel the operation, but success is not
     * guaranteed.  If the server doesn't support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.  Clients can use
     * [Operations.GetOperation][google.longrunning.Operations.GetOperation] or
     * other methods to check whether the cancellation succeeded or whether the
     * operation completed despite cancellation. On successful cancellation,
     * the operation is not deleted; instead, it becomes an operation with
     * an [Operation.error][google.longrunning.Operation.error] value with a
     * [google.rpc.Status.code][google.rpc.Status.code] of `1`, corresponding to
     * `Code.CANCELLED`.
     */
    cancelOperation(request: CancelOperationRequest, callback: (error: ServiceError | null, response: Empty) => void): ClientUnaryCall;
    cancelOperation(request: CancelOperationRequest, metadata: Metadata, callback: (error: ServiceError | null, response: Empty) => void): ClientUnaryCall;
    cancelOperation(request: CancelOperationRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: Empty) => void): ClientUnaryCall;
    /**
     * Waits until the specified long-running operation is done or reaches at most
     * a specified timeout, returning the latest state.  If the operation is
     * already done, the latest state is immediately returned.  If the timeout
     * specified is greater than the default HTTP/RPC timeout, the HTTP/RPC
     * timeout is used.  If the server does not support this method, it returns
     * `google.rpc.Code.UNIMPLEMENTED`.
     * Note that this method is on a best-effort basis.  It may return the latest
     * state before the specified timeout (including immediately), meaning even an
     * immediate response is no guarantee that the operation is done.
     */
    waitOperation(request: WaitOperationRequest, callback: (error: ServiceError | null, response: Operation) => void): ClientUnaryCall;
    waitOperation(request: WaitOperationRequest, metadata: Metadata, callback: (error: ServiceError | null, response: Operation) => void): ClientUnaryCall;
    waitOperation(request: WaitOperationRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: Operation) => void): ClientUnaryCall;
}
export declare const OperationsClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): OperationsClient;
    service: typeof OperationsService;
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
