/**
 * Connections of the PostgreSQL scheduler: the driver (`pg`) is loaded only
 * here, when a PostgreSQL scheduler is configured. Every connection works in
 * the scheduler's schema through its `search_path`.
 */

import { status as Code } from '@grpc/grpc-js';
import type { Client, Pool, PoolClient } from 'pg';
import { invalidArgument, KilnError, quote } from '../../errors.ts';
import type { Logger } from '../../util/logger.ts';

/** Schema names the scheduler accepts (they go into SQL unquoted and into channel names). */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/** A pool, and a factory for the separate listening connection. */
export interface Connections {
  readonly pool: Pool;
  readonly connect: () => Promise<Client>;
}

/** Creates the pool (nothing connects yet); INVALID_ARGUMENT for a bad schema name. */
export async function connections(options: {
  url: string;
  schema: string;
  poolSize: number;
  log: Logger;
}): Promise<Connections> {
  if (!SCHEMA_NAME.test(options.schema)) {
    throw invalidArgument(
      `scheduler schema ${quote(options.schema)} must match ${SCHEMA_NAME.source}`,
    );
  }
  const pg = (await import('pg')).default;
  const config = {
    connectionString: options.url,
    options: `-c search_path=${options.schema}`,
    application_name: 'kiln-scheduler',
  };
  const pool = new pg.Pool({ ...config, max: options.poolSize });
  pool.on('error', (err) => options.log.warn({ err }, 'idle PostgreSQL connection failed'));
  return {
    pool: guarded(pool),
    connect: async () => {
      const client = new pg.Client(config);
      await client.connect();
      return client;
    },
  };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** SQLSTATE classes and codes that mean the database is unreachable or going away. */
const UNREACHABLE_STATES = /^(08|53|57P0[1-3])/;
const UNREACHABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
]);

/**
 * A database failure as a KilnError: UNAVAILABLE (the caller may retry)
 * when PostgreSQL cannot be reached or is shutting down, INTERNAL otherwise.
 */
export function fromPgError(err: unknown): unknown {
  if (err instanceof KilnError || !(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  const unreachable =
    (typeof code === 'string' && (UNREACHABLE_STATES.test(code) || UNREACHABLE_ERRNOS.has(code))) ||
    /Connection terminated|not queryable|timeout exceeded when trying to connect/i.test(
      err.message,
    );
  return unreachable
    ? new KilnError(
        Code.UNAVAILABLE,
        `the scheduler database (PostgreSQL) is unreachable: ${err.message}; retry once it is back`,
        { cause: err },
      )
    : new KilnError(Code.INTERNAL, `scheduler database error: ${err.message}`, { cause: err });
}

const wrappedClients = new WeakSet<PoolClient>();

/** A `{ text, values, name }` config, not a submittable Query object. */
function isQueryConfig(arg: unknown): boolean {
  return (
    typeof arg === 'object' &&
    arg !== null &&
    typeof (arg as { text?: unknown }).text === 'string' &&
    typeof (arg as { submit?: unknown }).submit !== 'function'
  );
}

/** The pool, its queries (and those of the connections it lends) failing with KilnErrors. */
function guarded(pool: Pool): Pool {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => Promise<PoolClient>;
  const patched = pool as unknown as {
    query: (...args: unknown[]) => Promise<unknown>;
    connect: (...args: unknown[]) => Promise<PoolClient> | undefined;
  };
  patched.query = (...args) =>
    typeof args.at(-1) === 'function'
      ? query(...args)
      : query(...args).catch((err: unknown) => {
          throw fromPgError(err);
        });
  patched.connect = (...args) => {
    // The pool's own query() lends itself a connection with a callback: left as it is.
    if (args.length > 0) return connect(...args);
    return connect().then(
      (client) => {
        // Pooled connections come back again and again: wrapped once.
        if (wrappedClients.has(client)) return client;
        wrappedClients.add(client);
        const clientQuery = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
        (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a) =>
          // Callback and Query-object forms (the pool's own) are left as they are;
          // text and query configs (named statements) fail with KilnErrors.
          typeof a.at(-1) === 'function' || !(typeof a[0] === 'string' || isQueryConfig(a[0]))
            ? clientQuery(...a)
            : clientQuery(...a).catch((err: unknown) => {
                throw fromPgError(err);
              });
        return client;
      },
      (err: unknown) => {
        throw fromPgError(err);
      },
    );
  };
  return pool;
}
