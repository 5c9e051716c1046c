/**
 * The one grpc-js server interceptor every call crosses, for every service.
 * In order, on the way in:
 * - authentication (from the call's metadata and peer) and authorization
 *   against {@link METHOD_RULES} on the instance name of its first request
 *   message, before any handler sees the message. Authentication may take a
 *   while (a JWT whose key set must be fetched): what arrives meanwhile is
 *   held, in order, until the verdict;
 * - requests that cannot be decoded ({@link UndecodableRequest}) answered
 *   INVALID_ARGUMENT (grpc-js would answer INTERNAL, as if the server were
 *   at fault);
 * and on the way out: no status message longer than
 * {@link STATUS_MESSAGE_LIMIT} characters, and every call's outcome told to
 * the {@link RpcObserver} once (refusals included).
 *
 * One interceptor rather than one per concern: grpc-js gives each
 * interceptor of each call an intercepting call, a listener, a responder
 * and their closures, which a pending long poll holds for as long as it
 * waits. Here the call is one object that is also its own listener.
 */
import {
  Metadata,
  type ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import { type AuthenticationResult, type Authenticator, isFailure } from '../auth/authenticator.ts';
import { METHOD_RULES, type MethodRule, PUBLIC_METHODS } from '../auth/method-permissions.ts';
import type { Identity } from '../auth/permissions.ts';
import { cutStatusMessage, STATUS_MESSAGE_LIMIT } from '../errors.ts';
import { type AuthAudit, recordIdentity, refusal, shortName } from './call-auth.ts';
import { UndecodableRequest } from './request-boundary.ts';
import { deadlineOf, namesOf, type RpcObserver } from './rpc.ts';

/** What the edge does besides the request boundary, which it always keeps. */
export interface EdgeOptions {
  /**
   * Who may call what; without it every call is let through and handlers
   * see no identity (only for tests of other concerns: a server always has
   * one, protected mode at least).
   */
  readonly authenticator?: Authenticator;
  /** Told about refused calls and admitted `admin` calls; nothing when absent. */
  readonly audit?: AuthAudit;
  /** Told the outcome of every call; nothing is measured when absent. */
  readonly observer?: RpcObserver;
}

type Listener = Parameters<ServerInterceptingCallInterface['start']>[0];
type SentStatus = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

/**
 * One call at the edge: grpc-js's call toward the handler and, toward the
 * server, the listener of the call it wraps. Plain fields, no closures,
 * except while an asynchronous verdict holds messages back.
 */
class EdgeCall implements ServerInterceptingCallInterface, Listener {
  readonly #next: ServerInterceptingCallInterface;
  readonly #path: string;
  readonly #edge: EdgeOptions;
  /** The method's rule; undefined for public methods and without an authenticator too. */
  readonly #rule: MethodRule | undefined;
  /** Whether this call is authenticated and authorized (not a public method, an authenticator given). */
  readonly #checked: boolean;
  #listener: Listener | undefined;
  #identity: Identity | undefined;
  #metadata: Metadata | undefined;
  /** Since when the call runs, for the observer (performance.now()). */
  readonly #startMs: number;
  /** The first message was authorized (or the call needs no authorization). */
  #decided = false;
  /** A status was sent by the edge itself: nothing more goes to the handler. */
  #rejected = false;
  /** The call was cancelled (or ended): grpc-js's own listeners ignore what follows too. */
  #cancelled = false;
  #reported = false;
  /** What arrived while an asynchronous verdict was pending; undefined when none is. */
  #held: Array<() => void> | undefined;

  constructor(next: ServerInterceptingCallInterface, path: string, edge: EdgeOptions) {
    this.#next = next;
    this.#path = path;
    this.#edge = edge;
    this.#checked = edge.authenticator !== undefined && !PUBLIC_METHODS.has(path);
    this.#rule = this.#checked ? METHOD_RULES.get(path) : undefined;
    this.#decided = !this.#checked;
    this.#startMs = edge.observer === undefined ? 0 : performance.now();
  }

  // --- Toward the server: the listener of the wrapped call. ---

  onReceiveMetadata(metadata: Metadata): void {
    if (this.#cancelled) return;
    this.#metadata = metadata;
    const authenticator = this.#edge.authenticator;
    if (!this.#checked || authenticator === undefined) {
      this.#listener?.onReceiveMetadata(metadata);
      return;
    }
    if (this.#rule === undefined) {
      // Fail closed: a method without a rule is a bug, not an open door.
      this.#reject(status.PERMISSION_DENIED, `${shortName(this.#path)} has no permission rule`);
      return;
    }
    // Protected mode ignores certificates: no function for it is made per call.
    const certificate =
      authenticator.mode === 'protected'
        ? undefined
        : () => this.#next.getAuthContext()?.sslPeerCertificate;
    const result = authenticator.authenticate(metadata, this.#next.getPeer(), certificate);
    if (!(result instanceof Promise)) {
      this.#admit(result, metadata);
      return;
    }
    this.#held = [];
    void result
      .then(
        (verdict) => this.#admit(verdict, metadata),
        (err: Error) =>
          this.#reject(
            status.UNAUTHENTICATED,
            `the credentials could not be checked: ${err.message}`,
          ),
      )
      .finally(() => {
        const queue = this.#held ?? [];
        this.#held = undefined;
        for (const release of queue) release();
      });
  }

  onReceiveMessage(message: unknown): void {
    if (this.#cancelled) return;
    if (this.#held !== undefined) this.#held.push(() => this.#receive(message));
    else this.#receive(message);
  }

  onReceiveHalfClose(): void {
    if (this.#cancelled) return;
    if (this.#held !== undefined) this.#held.push(() => this.#halfClose());
    else this.#halfClose();
  }

  onCancel(): void {
    this.#cancelled = true;
    if (this.#edge.observer !== undefined && !this.#reported) {
      const deadline = deadlineOf(this.#next.getDeadline());
      if (deadline !== undefined && deadline <= Date.now()) {
        this.#report(status.DEADLINE_EXCEEDED, 'deadline exceeded');
      } else {
        this.#report(status.CANCELLED, 'cancelled by the client');
      }
    }
    this.#listener?.onCancel();
  }

  // --- Toward the handler: the call it sees. ---

  start(listener: Listener): void {
    this.#listener = listener;
    this.#next.start(this);
  }

  sendMetadata(metadata: Metadata): void {
    this.#next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    this.#next.sendMessage(message, callback);
  }

  sendStatus(sent: SentStatus): void {
    const details = sent.details;
    const cut =
      details === undefined || details.length <= STATUS_MESSAGE_LIMIT
        ? sent
        : { ...sent, details: cutStatusMessage(details) };
    this.#report(cut.code, cut.details ?? '');
    this.#next.sendStatus(cut);
  }

  startRead(): void {
    this.#next.startRead();
  }

  getPeer(): string {
    return this.#next.getPeer();
  }

  getDeadline(): ReturnType<ServerInterceptingCallInterface['getDeadline']> {
    return this.#next.getDeadline();
  }

  getHost(): string {
    return this.#next.getHost();
  }

  getAuthContext(): ReturnType<ServerInterceptingCallInterface['getAuthContext']> {
    return this.#next.getAuthContext();
  }

  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface['getConnectionInfo']> {
    return this.#next.getConnectionInfo();
  }

  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface['getMetricsRecorder']> {
    return this.#next.getMetricsRecorder();
  }

  // --- Inside. ---

  #admit(result: AuthenticationResult, metadata: Metadata): void {
    if (isFailure(result)) {
      this.#reject(status.UNAUTHENTICATED, result.failure);
      return;
    }
    this.#identity = result;
    recordIdentity(metadata, result);
    if (!this.#cancelled) this.#listener?.onReceiveMetadata(metadata);
  }

  #receive(message: unknown): void {
    if (this.#rejected || this.#cancelled) return;
    if (!this.#decided && !this.#authorize(message)) return;
    if (message instanceof UndecodableRequest) {
      this.#rejected = true;
      this.sendStatus({
        code: status.INVALID_ARGUMENT,
        details: message.reason,
        metadata: new Metadata(),
      });
      return;
    }
    this.#listener?.onReceiveMessage(message);
  }

  #halfClose(): void {
    if (!this.#rejected && !this.#cancelled) this.#listener?.onReceiveHalfClose();
  }

  /** Checks the first message's instance against the caller's permissions; false when refused. */
  #authorize(message: unknown): boolean {
    const rule = this.#rule;
    const identity = this.#identity;
    if (rule === undefined || identity === undefined) return true;
    this.#decided = true;
    const instance = rule.instanceOf(message);
    const denied = refusal(identity, rule, this.#path, instance);
    if (denied !== undefined) {
      this.#reject(denied.code, denied.details);
      return false;
    }
    if (rule.permission === 'admin') {
      this.#edge.audit?.admin({
        action: this.#path,
        principal: identity.principal,
        peer: this.#next.getPeer(),
        detail: { instance },
      });
    }
    return true;
  }

  #reject(code: status, details: string): void {
    this.#rejected = true;
    this.sendStatus({ code, details, metadata: new Metadata() });
    this.#edge.audit?.denied({
      method: this.#path,
      code: code === status.UNAUTHENTICATED ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED',
      details,
      principal: this.#identity?.principal,
      peer: this.#next.getPeer(),
    });
  }

  #report(code: status, message: string): void {
    const observer = this.#edge.observer;
    if (observer === undefined || this.#reported) return;
    this.#reported = true;
    const { service, method } = namesOf(this.#path);
    const durationMs = performance.now() - this.#startMs;
    observer.rpcFinished({ service, method, code, message, durationMs, metadata: this.#metadata });
  }
}

/**
 * The edge interceptor; see the module comment. With tracing, list the
 * tracing interceptor before it (inside), so that spans see the statuses
 * the edge sends.
 */
export function edgeInterceptor(options: EdgeOptions): ServerInterceptor {
  const edge: EdgeOptions = { ...options };
  // grpc-js types an interceptor as returning its own class, but uses only
  // the interface, which EdgeCall implements in full.
  return (descriptor, call) =>
    new EdgeCall(call, descriptor.path, edge) as unknown as ServerInterceptingCall;
}
