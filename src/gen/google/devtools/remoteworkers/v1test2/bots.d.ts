import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type CallOptions, type ChannelCredentials, Client, type ClientOptions, type ClientUnaryCall, type handleUnaryCall, type Metadata, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { Any } from "../../../protobuf/any.js";
import { Timestamp } from "../../../protobuf/timestamp.js";
import { Status } from "../../../rpc/status.js";
import { Worker } from "./worker.js";
export declare const protobufPackage = "google.devtools.remoteworkers.v1test2";
export declare const protobufFileName = "google/devtools/remoteworkers/v1test2/bots.proto";
/**
 * A coarse description of the status of the bot that the server uses to
 * determine whether to assign the bot new leases.
 */
export declare const BotStatus: {
    /** BOT_STATUS_UNSPECIFIED - Default value; do not use. */
    readonly BOT_STATUS_UNSPECIFIED: 0;
    /** OK - The bot is healthy, and will accept leases as normal. */
    readonly OK: 1;
    /**
     * UNHEALTHY - The bot is unhealthy and will not accept new leases. For example, the bot
     * may have detected that available disk space is too low. This situation may
     * resolve itself, but will typically require human intervention.
     */
    readonly UNHEALTHY: 2;
    /**
     * HOST_REBOOTING - The bot has been asked to reboot the host. The bot will not accept new
     * leases; once all leases are complete, this session will no longer be
     * updated but the bot will be expected to establish a new session after the
     * reboot completes.
     */
    readonly HOST_REBOOTING: 3;
    /**
     * BOT_TERMINATING - The bot has been asked to shut down. As with HOST_REBOOTING, once all
     * leases are completed, the session will no longer be updated and the bot
     * will not be expected to establish a new session.
     *
     * Bots are typically only asked to shut down if its host computer will be
     * modified in some way, such as deleting a VM.
     */
    readonly BOT_TERMINATING: 4;
    /** INITIALIZING - The bot is initializing and is not ready to accept leases. */
    readonly INITIALIZING: 5;
    readonly UNRECOGNIZED: -1;
};
export type BotStatus = typeof BotStatus[keyof typeof BotStatus];
export declare namespace BotStatus {
    type BOT_STATUS_UNSPECIFIED = typeof BotStatus.BOT_STATUS_UNSPECIFIED;
    type OK = typeof BotStatus.OK;
    type UNHEALTHY = typeof BotStatus.UNHEALTHY;
    type HOST_REBOOTING = typeof BotStatus.HOST_REBOOTING;
    type BOT_TERMINATING = typeof BotStatus.BOT_TERMINATING;
    type INITIALIZING = typeof BotStatus.INITIALIZING;
    type UNRECOGNIZED = typeof BotStatus.UNRECOGNIZED;
}
export declare function botStatusFromJSON(object: any): BotStatus;
export declare function botStatusToJSON(object: BotStatus): string;
/**
 * The state of the lease. All leases start in the PENDING state. A bot can
 * change PENDING to ACTIVE or (in the case of an error) COMPLETED, or from
 * ACTIVE to COMPLETED. The server can change PENDING or ACTIVE to CANCELLED if
 * it wants the bot to release its resources - for example, if the bot needs to
 * be quarantined (it's producing bad output) or a cell needs to be drained.
 */
export declare const LeaseState: {
    /** LEASE_STATE_UNSPECIFIED - Default value; do not use. */
    readonly LEASE_STATE_UNSPECIFIED: 0;
    /**
     * PENDING - Pending: the server expects the bot to accept this lease. This may only be
     * set by the server.
     */
    readonly PENDING: 1;
    /** ACTIVE - Active: the bot has accepted this lease. This may only be set by the bot. */
    readonly ACTIVE: 2;
    /**
     * COMPLETED - Completed: the bot is no longer leased. This may only be set by the bot,
     * and the status field must be populated iff the state is COMPLETED.
     */
    readonly COMPLETED: 4;
    /**
     * CANCELLED - Cancelled: The bot should immediately release all resources associated with
     * the lease. This may only be set by the server.
     */
    readonly CANCELLED: 5;
    readonly UNRECOGNIZED: -1;
};
export type LeaseState = typeof LeaseState[keyof typeof LeaseState];
export declare namespace LeaseState {
    type LEASE_STATE_UNSPECIFIED = typeof LeaseState.LEASE_STATE_UNSPECIFIED;
    type PENDING = typeof LeaseState.PENDING;
    type ACTIVE = typeof LeaseState.ACTIVE;
    type COMPLETED = typeof LeaseState.COMPLETED;
    type CANCELLED = typeof LeaseState.CANCELLED;
    type UNRECOGNIZED = typeof LeaseState.UNRECOGNIZED;
}
export declare function leaseStateFromJSON(object: any): LeaseState;
export declare function leaseStateToJSON(object: LeaseState): string;
/**
 * A bot session represents the state of a bot while in continuous contact with
 * the server for a period of time. The session includes information about the
 * worker - that is, the *worker* (the physical or virtual hardware) is
 * considered to be a property of the bot (the software agent running on that
 * hardware), which is the reverse of real life, but more natural from the point
 * of the view of this API, which communicates solely with the bot and not
 * directly with the underlying worker.
 */
export interface BotSession {
    /**
     * The bot session name, as selected by the server. Output only during a call
     * to CreateBotSession.
     */
    name: string;
    /**
     * A unique bot ID within the farm used to persistently identify this bot over
     * time (i.e., over multiple sessions). This ID must be unique within a
     * farm. Typically, the bot ID will be the same as the name of the primary
     * device in the worker (e.g., what you'd get from typing `uname -n` on *nix),
     * but this is not required since a single device may allow multiple bots to
     * run on it, each with access to different resources. What is important is
     * that this ID is meaningful to humans, who might need to hunt a physical
     * machine down to fix it.
     *
     * When CreateBotSession is successfully called with a bot_id, all prior
     * sessions with the same ID are invalidated. If a bot attempts to update an
     * invalid session, the server must reject that request, and may also
     * quarantine the other bot with the same bot IDs (ie, stop sending it new
     * leases and alert an admin).
     */
    botId: string;
    /**
     * The status of the bot. This must be populated in every call to
     * UpdateBotSession.
     */
    status: BotStatus;
    /**
     * A description of the worker hosting this bot. The Worker message is used
     * here in the Status context (see Worker for more information).  If multiple
     * bots are running on the worker, this field should only describe the
     * resources accessible from this bot.
     *
     * During the call to CreateBotSession, the server may make arbitrary changes
     * to the worker's `server_properties` field (see that field for more
     * information). Otherwise, this field is input-only.
     */
    worker: Worker | undefined;
    /**
     * A list of all leases that are a part of this session. See the Lease message
     * for details.
     */
    leases: Lease[];
    /**
     * The time at which this bot session will expire, unless the bot calls
     * UpdateBotSession again. Output only.
     */
    expireTime: Timestamp | undefined;
    /**
     * The version of the bot code currently running. The server may use this
     * information to issue an admin action to tell the bot to update itself.
     */
    version: string;
}
/**
 * A Lease is a lease that the scheduler has assigned to this bot. If the bot
 * notices (by UpdateBotSession) that it has any leases in the PENDING state, it
 * should call UpdateBotSession to put the leases into the ACTIVE state and
 * start executing their assignments.
 *
 * All fields in this message are output-only, *except* the `state` and `status`
 * fields. Note that repeated fields can only be updated as a unit, so on every
 * update the bot must provide an update for *all* the leases the server expects
 * it to report on.
 *
 * The scheduler *should* ensure that all leases scheduled to a bot can actually
 * be accepted, but race conditions may occur. In such cases, the bot should
 * attempt to accept the leases in the order they are listed by the server, to
 * allow the server to control priorities.
 *
 * The server will remove COMPLETED leases from time to time, after which the
 * bot shouldn't report on them any more (the server will ignore superfluous
 * COMPLETED records).
 */
export interface Lease {
    /** A short string uniquely identifing the lease within this bot session. */
    id: string;
    /**
     * The actual work to be performed, if any. May be omitted by the server if
     * the lease is not in the `PENDING` state. The message must be meaningful to
     * the bot. Output only (must only be set by the server).
     */
    payload: Any | undefined;
    /**
     * Any result the bot wishes to provide about the lease. Must not be changed
     * after the first call with the lease in the `COMPLETED` or `CANCELLED`
     * state. Input only (must only be set by the bot, will not be echoed by the
     * server).
     */
    result: Any | undefined;
    /** The state of the lease. See LeaseState for more information. */
    state: LeaseState;
    /**
     * The final status of the lease (should be populated by the bot if the state
     * is completed). This is the status of the lease, not of any task represented
     * by the lease. For example, if the bot could not accept the lease because it
     * asked for some resource the bot didn't have, this status will be
     * FAILED_PRECONDITION. But if the assignment in the lease didn't execute
     * correctly, this field will be `OK` while the failure of the assignment must
     * communicated via the `result` field.
     */
    status: Status | undefined;
    /**
     * The requirements that are being claimed by this lease. This field may be
     * omitted by the server if the lease is not pending.
     */
    requirements: Worker | undefined;
    /**
     * The time at which this lease expires. The server *may* extend this over
     * time, but due to race conditions, the bot is not *required* to respect any
     * expiry date except the first one.
     */
    expireTime: Timestamp | undefined;
    /**
     * DEPRECATED. The assignment should be provided to the bot via the `payload`
     * field. Clients that wish to use a simple name (such as a queue of work
     * provided elsewhere) should define a custom message type and encode it into
     * `payload`.
     *
     * @deprecated
     */
    assignment: string;
    /**
     * DEPRECATED. Use `payload` instead.
     *
     * @deprecated
     */
    inlineAssignment: Any | undefined;
}
/**
 * AdminTemp is a prelimiary set of administration tasks. It's called "Temp"
 * because we do not yet know the best way to represent admin tasks; it's
 * possible that this will be entirely replaced in later versions of this API.
 * If this message proves to be sufficient, it will be renamed in the alpha or
 * beta release of this API.
 *
 * This message (suitably marshalled into a protobuf.Any) can be used as the
 * inline_assignment field in a lease; the lease assignment field should simply
 * be `"admin"` in these cases.
 *
 * This message is heavily based on Swarming administration tasks from the LUCI
 * project (http://github.com/luci/luci-py/appengine/swarming).
 */
export interface AdminTemp {
    /** The admin action; see `Command` for legal values. */
    command: AdminTemp_Command;
    /** The argument to the admin action; see `Command` for semantics. */
    arg: string;
}
/** Possible administration actions. */
export declare const AdminTemp_Command: {
    /** UNSPECIFIED - Illegal value. */
    readonly UNSPECIFIED: 0;
    /**
     * BOT_UPDATE - Download and run a new version of the bot. `arg` will be a resource
     * accessible via `ByteStream.Read` to obtain the new bot code.
     */
    readonly BOT_UPDATE: 1;
    /**
     * BOT_RESTART - Restart the bot without downloading a new version. `arg` will be a
     * message to log.
     */
    readonly BOT_RESTART: 2;
    /**
     * BOT_TERMINATE - Shut down the bot. `arg` will be a task resource name (similar to those
     * in tasks.proto) that the bot can use to tell the server that it is
     * terminating.
     */
    readonly BOT_TERMINATE: 3;
    /** HOST_RESTART - Restart the host computer. `arg` will be a message to log. */
    readonly HOST_RESTART: 4;
    readonly UNRECOGNIZED: -1;
};
export type AdminTemp_Command = typeof AdminTemp_Command[keyof typeof AdminTemp_Command];
export declare namespace AdminTemp_Command {
    type UNSPECIFIED = typeof AdminTemp_Command.UNSPECIFIED;
    type BOT_UPDATE = typeof AdminTemp_Command.BOT_UPDATE;
    type BOT_RESTART = typeof AdminTemp_Command.BOT_RESTART;
    type BOT_TERMINATE = typeof AdminTemp_Command.BOT_TERMINATE;
    type HOST_RESTART = typeof AdminTemp_Command.HOST_RESTART;
    type UNRECOGNIZED = typeof AdminTemp_Command.UNRECOGNIZED;
}
export declare function adminTemp_CommandFromJSON(object: any): AdminTemp_Command;
export declare function adminTemp_CommandToJSON(object: AdminTemp_Command): string;
/** Request message for CreateBotSession. */
export interface CreateBotSessionRequest {
    /** Required. The farm resource. */
    parent: string;
    /**
     * Required. The bot session to create. Server-assigned fields like name must
     * be unset.
     */
    botSession: BotSession | undefined;
}
/** Request message for UpdateBotSession. */
export interface UpdateBotSessionRequest {
    /** Required. The bot session name. Must match bot_session.name. */
    name: string;
    /** Required. The bot session resource to update. */
    botSession: BotSession | undefined;
    /**
     * Required. The fields on the bot that should be updated. See the BotSession
     * resource for which fields are updatable by which caller.
     */
    updateMask: string[] | undefined;
}
export declare const BotSession: MessageFns<BotSession>;
export declare const Lease: MessageFns<Lease>;
export declare const AdminTemp: MessageFns<AdminTemp>;
export declare const CreateBotSessionRequest: MessageFns<CreateBotSessionRequest>;
export declare const UpdateBotSessionRequest: MessageFns<UpdateBotSessionRequest>;
/**
 * Design doc: https://goo.gl/oojM5H
 *
 * Loosely speaking, the Bots interface monitors a collection of workers (think
 * of them as "computers" for a moment). This collection is known as a "farm,"
 * and its purpose is to perform work on behalf of a client.
 *
 * Each worker runs a small program known as a "bot" that allows it to be
 * controlled by the server. This interface contains only methods that are
 * called by the bots themselves; admin functionality is out of scope for this
 * interface.
 *
 * More precisely, we use the term "worker" to refer to the physical "thing"
 * running the bot. We use the term "worker," and not "machine" or "computer,"
 * since a worker may consist of more than one machine - e.g., a computer with
 * multiple attached devices, or even a cluster of computers, with only one of
 * them running the bot. Conversely, a single machine may host several bots, in
 * which case each bot has a "worker" corresponding to the slice of the machine
 * being managed by that bot.
 *
 * The main resource in the Bots interface is not, surprisingly, a Bot - it is a
 * BotSession, which represents a period of time in which a bot is in continuous
 * contact with the server (see the BotSession message for more information).
 * The parent of a bot session can be thought of as an instance of a farm. That
 * is, one endpoint may be able to manage many farms for many users. For
 * example, for a farm managed through GCP, the parent resource will typically
 * take the form "projects/{project_id}". This is referred to below as "the farm
 * resource."
 */
export type BotsService = typeof BotsService;
export declare const BotsService: {
    /**
     * CreateBotSession is called when the bot first joins the farm, and
     * establishes a session ID to ensure that multiple machines do not register
     * using the same name accidentally.
     */
    readonly createBotSession: {
        readonly path: "/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: CreateBotSessionRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => CreateBotSessionRequest;
        readonly responseSerialize: (value: BotSession) => Buffer;
        readonly responseDeserialize: (value: Buffer) => BotSession;
    };
    /**
     * UpdateBotSession must be called periodically by the bot (on a schedule
     * determined by the server) to let the server know about its status, and to
     * pick up new lease requests from the server.
     */
    readonly updateBotSession: {
        readonly path: "/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession";
        readonly requestStream: false;
        readonly responseStream: false;
        readonly requestSerialize: (value: UpdateBotSessionRequest) => Buffer;
        readonly requestDeserialize: (value: Buffer) => UpdateBotSessionRequest;
        readonly responseSerialize: (value: BotSession) => Buffer;
        readonly responseDeserialize: (value: Buffer) => BotSession;
    };
};
export interface BotsServer extends UntypedServiceImplementation {
    /**
     * CreateBotSession is called when the bot first joins the farm, and
     * establishes a session ID to ensure that multiple machines do not register
     * using the same name accidentally.
     */
    createBotSession: handleUnaryCall<CreateBotSessionRequest, BotSession>;
    /**
     * UpdateBotSession must be called periodically by the bot (on a schedule
     * determined by the server) to let the server know about its status, and to
     * pick up new lease requests from the server.
     */
    updateBotSession: handleUnaryCall<UpdateBotSessionRequest, BotSession>;
}
export interface BotsClient extends Client {
    /**
     * CreateBotSession is called when the bot first joins the farm, and
     * establishes a session ID to ensure that multiple machines do not register
     * using the same name accidentally.
     */
    createBotSession(request: CreateBotSessionRequest, callback: (error: ServiceError | null, response: BotSession) => void): ClientUnaryCall;
    createBotSession(request: CreateBotSessionRequest, metadata: Metadata, callback: (error: ServiceError | null, response: BotSession) => void): ClientUnaryCall;
    createBotSession(request: CreateBotSessionRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: BotSession) => void): ClientUnaryCall;
    /**
     * UpdateBotSession must be called periodically by the bot (on a schedule
     * determined by the server) to let the server know about its status, and to
     * pick up new lease requests from the server.
     */
    updateBotSession(request: UpdateBotSessionRequest, callback: (error: ServiceError | null, response: BotSession) => void): ClientUnaryCall;
    updateBotSession(request: UpdateBotSessionRequest, metadata: Metadata, callback: (error: ServiceError | null, response: BotSession) => void): ClientUnaryCall;
    updateBotSession(request: UpdateBotSessionRequest, metadata: Metadata, options: Partial<CallOptions>, callback: (error: ServiceError | null, response: BotSession) => void): ClientUnaryCall;
}
export declare const BotsClient: {
    new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): BotsClient;
    service: typeof BotsService;
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
