/**
 * The audit log: a structured log line and a counter for every call the
 * authorization interceptor refuses, and for every administrative action.
 * Denials are counted always but logged at a bounded rate, so a client
 * hammering the server with a bad token cannot flood the log; the next line
 * written says how many were left out.
 */
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../util/logger.ts';

/** One refused call. */
export interface Denial {
  /** Full gRPC method path, `/pkg.Service/Method`. */
  readonly method: string;
  readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  /** The status message sent to the caller. */
  readonly details: string;
  /** The caller's principal when it was authenticated (or anonymous); undefined when not. */
  readonly principal: string | undefined;
  /** The caller's address (grpc-js peer). */
  readonly peer: string;
}

/** One administrative action (a call that needed `admin`, or its outcome). */
export interface AdminAction {
  /** What was done: a method path, or a name such as `action-cache.purge`. */
  readonly action: string;
  readonly principal: string;
  readonly peer?: string;
  /** What it applied to and what it did: instance, filters, counts. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Options for {@link AuditLog}. */
export interface AuditLogOptions {
  readonly log: Logger;
  /** Where the counters are registered (Kiln's metrics registry); none when absent. */
  readonly registry?: Registry;
  /** Denial lines logged per second on average; default 10. */
  readonly denialLinesPerSecond?: number;
  /** Denial lines logged in one burst; default 50. */
  readonly denialBurst?: number;
  /** Clock in ms, for tests; default `Date.now`. */
  readonly now?: () => number;
}

/** The audit log; see the module comment. */
export class AuditLog {
  readonly #log: Logger;
  readonly #denials: Counter<'code' | 'method'> | undefined;
  readonly #admin: Counter<'action'> | undefined;
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  /** Token bucket of denial lines. */
  #tokens: number;
  #refilledAt: number;
  /** Denials not logged since the last denial line. */
  #suppressed = 0;

  constructor(options: AuditLogOptions) {
    this.#log = options.log.child({ audit: true });
    this.#rate = options.denialLinesPerSecond ?? 10;
    this.#burst = options.denialBurst ?? 50;
    this.#now = options.now ?? Date.now;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#now();
    const registers = options.registry === undefined ? undefined : [options.registry];
    if (registers !== undefined) {
      this.#denials = new Counter({
        name: 'kiln_auth_denials_total',
        help: 'Calls refused by authentication or authorization, by gRPC code and method.',
        labelNames: ['code', 'method'],
        registers,
      });
      this.#admin = new Counter({
        name: 'kiln_admin_actions_total',
        help: 'Administrative actions (calls that need the admin permission, purges), by action.',
        labelNames: ['action'],
        registers,
      });
    }
  }

  /** Records a refused call: counted always, logged within the rate limit. */
  readonly denied = (denial: Denial): void => {
    this.#denials?.inc({ code: denial.code, method: denial.method });
    if (!this.#take()) {
      this.#suppressed++;
      return;
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    this.#log.warn(
      {
        event: 'denied',
        method: denial.method,
        code: denial.code,
        principal: denial.principal,
        peer: denial.peer,
        reason: denial.details,
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      suppressed > 0
        ? `call refused (${suppressed} earlier refusals not logged: rate limit)`
        : 'call refused',
    );
  };

  /** Records an administrative action; always logged (they are rare and matter). */
  readonly admin = (action: AdminAction): void => {
    this.#admin?.inc({ action: action.action });
    this.#log.info(
      {
        event: 'admin',
        action: action.action,
        principal: action.principal,
        peer: action.peer,
        ...action.detail,
      },
      'administrative action',
    );
  };

  #take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + ((now - this.#refilledAt) * this.#rate) / 1000,
    );
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
