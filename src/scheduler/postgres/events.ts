/**
 * The one listening connection of a PostgreSQL scheduler process, and what
 * waits on it here: workers' long-polls and operation watchers. Other
 * processes (and this one) announce changes with `pg_notify` in the same
 * statement that makes them, so a notification arrives only after the
 * change is committed and visible.
 *
 * Channels (prefixed with the schema name, so schedulers on separate
 * schemas of one database do not hear each other):
 * - `<schema>_work`: an action was queued; payload its required platform pairs as JSON.
 * - `<schema>_ops`: an operation changed or was deleted; payload `[name, stage, worker, version]`,
 *   and for a lease's completion also the time and, when small, the response
 *   (base64 of its wire encoding), so watchers need not read the operation.
 * - `<schema>_worker`: a lease of a worker was cancelled or lost; payload the worker id.
 */
import type { Client, Notification } from 'pg';
import type { Logger } from '../../util/logger.ts';

/** The channel names of one schema. */
export interface Channels {
  readonly work: string;
  readonly ops: string;
  readonly worker: string;
}

/** Channel names for `schema`. */
export function channelsOf(schema: string): Channels {
  return { work: `${schema}_work`, ops: `${schema}_ops`, worker: `${schema}_worker` };
}

/** An operation changed: its new stage (`DELETED` when gone), worker and row version. */
export interface OperationEvent {
  readonly name: string;
  readonly stage: 'QUEUED' | 'EXECUTING' | 'COMPLETED' | 'DELETED';
  readonly worker: string | undefined;
  readonly version: number;
  /** A completion's time, when the notification carries it. */
  readonly completedAtMs?: number;
  /** A completion's ExecuteResponse in base64, when it was small enough to carry. */
  readonly response?: string;
}

/** What the listener calls back. */
export interface EventHandlers {
  /** An action requiring `required` (platform pairs) was queued somewhere. */
  work(required: readonly string[]): void;
  /** Operations changed, in commit order. */
  operations(events: readonly OperationEvent[]): void;
  /** A lease of this worker was cancelled. */
  workerCancelled(workerId: string): void;
  /** The connection was lost and is back: notifications may have been missed. */
  resync(): void;
}

/** Options of {@link Listener}. */
export interface ListenerOptions {
  readonly connect: () => Promise<Client>;
  readonly channels: Channels;
  readonly handlers: EventHandlers;
  readonly log: Logger;
}

/**
 * Holds the LISTEN connection and reconnects (after a second) when it
 * drops; after a reconnect it tells its handlers to look again, since
 * notifications sent meanwhile are gone.
 */
export class Listener {
  readonly #options: ListenerOptions;
  #client: Client | undefined;
  #closed = false;
  /** Operation changes heard since the last batch was handed on. */
  #pendingOps: OperationEvent[] = [];
  #opsScheduled = false;

  constructor(options: ListenerOptions) {
    this.#options = options;
  }

  /** Connects and listens; rejects when the first connection fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = await this.#options.connect();
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    const { channels } = this.#options;
    client.on('notification', (n) => this.#heard(n));
    client.on('error', (err) => {
      this.#options.log.warn({ err }, 'scheduler listening connection to PostgreSQL failed');
    });
    client.on('end', () => {
      if (this.#closed || this.#client !== client) return;
      this.#client = undefined;
      this.#reconnectLater();
    });
    for (const channel of [channels.work, channels.ops, channels.worker]) {
      await client.query(`LISTEN ${channel}`);
    }
    this.#client = client;
  }

  #reconnectLater(): void {
    const timer = setTimeout(() => {
      if (this.#closed) return;
      this.#connect().then(
        () => this.#options.handlers.resync(),
        (err: unknown) => {
          this.#options.log.warn({ err }, 'reconnecting to PostgreSQL failed; retrying');
          this.#reconnectLater();
        },
      );
    }, 1_000);
    timer.unref();
  }

  #heard(n: Notification): void {
    const { channels, handlers } = this.#options;
    const payload = n.payload ?? '';
    if (n.channel === channels.ops) {
      const event = parseOperationEvent(payload);
      if (event === undefined) return;
      // Batched: a completion of a shared action notifies each of its operations.
      this.#pendingOps.push(event);
      if (!this.#opsScheduled) {
        this.#opsScheduled = true;
        setImmediate(() => {
          this.#opsScheduled = false;
          const events = this.#pendingOps;
          this.#pendingOps = [];
          handlers.operations(events);
        });
      }
    } else if (n.channel === channels.work) {
      let required: string[] = [];
      try {
        required = JSON.parse(payload) as string[];
      } catch {}
      handlers.work(required);
    } else if (n.channel === channels.worker) {
      handlers.workerCancelled(payload);
    }
  }
}

function parseOperationEvent(payload: string): OperationEvent | undefined {
  try {
    const [name, stage, worker, version, completedAtMs, response] = JSON.parse(payload) as [
      string,
      OperationEvent['stage'],
      string | null,
      number,
      number | null | undefined,
      string | null | undefined,
    ];
    const event = { name, stage, worker: worker ?? undefined, version };
    return typeof completedAtMs === 'number' && typeof response === 'string'
      ? { ...event, completedAtMs, response }
      : event;
  } catch {
    return undefined;
  }
}
