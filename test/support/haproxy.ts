/**
 * HAProxy (Debian package `haproxy`) as the load balancer in front of
 * several `kiln serve` processes on loopback, configured as
 * docs/deployment.md describes: plaintext gRPC (h2c) balanced per call,
 * with the gRPC health check sent as raw bytes by a `tcp-check`. Workers
 * connect through TCP-mode frontends instead, which forward whole
 * connections: a bot session belongs to the process that created it, so a
 * worker's calls must all reach that process until it dies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

/** Where Debian installs HAProxy. */
export const HAPROXY = '/usr/sbin/haproxy';

/**
 * The HTTP/2 exchange of `grpc.health.v1.Health/Check("")` on a fresh
 * connection, and the DATA payload of a SERVING answer (the bytes of
 * docs/deployment.md's HAProxy example).
 */
const HEALTH_CHECK_REQUEST =
  '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a0000000400000000000000460104000000018386041c2f677270632e6865616c74682e76312e4865616c74682f436865636b01046b696c6e0f10106170706c69636174696f6e2f677270630002746508747261696c6572730000050001000000010000000000';
const SERVING_ANSWER = '00000000020801';

/**
 * Whether HAProxy is installed. Without it a test is skipped locally but
 * fails in CI (`CI=true`), where a skipped fault test would hide a broken
 * image. Callers return when this gives false.
 */
export function requireHaproxy(t: { skip(message?: string): void }): boolean {
  try {
    accessSync(HAPROXY, constants.X_OK);
    return true;
  } catch {
    const message = `${HAPROXY} not found`;
    if (process.env.CI === 'true') {
      throw new Error(`${message}; CI must run the load balancer tests (install haproxy)`);
    }
    t.skip(message);
    return false;
  }
}

/** A running HAProxy. */
export interface Balancer {
  /** `127.0.0.1:PORT` of the per-call (HTTP/2) frontend, for clients such as Bazel. */
  readonly address: string;
  /**
   * `127.0.0.1:PORT` of a per-connection (TCP) frontend for workers, one per
   * server: the `i`th sends connections to server `i` while it is up, and to
   * another one otherwise.
   */
  readonly workerAddresses: readonly string[];
  /** Everything HAProxy logged so far (health changes among it). */
  log(): string;
  /** Stops HAProxy (SIGTERM) and waits for it to exit; safe to call twice. */
  stop(): Promise<void>;
}

/** The configuration for backends at `servers` (`host:port` each). */
export function haproxyConfig(
  address: string,
  workerAddresses: readonly string[],
  servers: readonly string[],
): string {
  const check = [
    '    option tcp-check',
    '    tcp-check connect',
    `    tcp-check send-binary ${HEALTH_CHECK_REQUEST}`,
    `    tcp-check expect binary ${SERVING_ANSWER}`,
  ];
  // A dead process is marked down within a second and its sessions cut; a
  // call that cannot connect is sent to the other server.
  const serverOptions = 'check inter 500 fall 1 rise 2 on-marked-down shutdown-sessions';
  return [
    'defaults',
    '    timeout connect 2s',
    '    timeout client 1h',
    '    timeout server 1h',
    '    timeout check 2s',
    '    retries 3',
    '    option redispatch 1',
    '',
    'frontend reapi',
    '    mode http',
    `    bind ${address} proto h2`,
    '    default_backend kiln',
    '',
    'backend kiln',
    '    mode http',
    '    balance roundrobin',
    '    option log-health-checks',
    ...check,
    `    default-server proto h2 ${serverOptions}`,
    ...servers.map((s, i) => `    server kiln${i + 1} ${s}`),
    '',
    // One worker frontend per process: each prefers its own process, the others are its backups.
    ...servers.flatMap((_, i) => [
      `frontend workers${i + 1}`,
      '    mode tcp',
      `    bind ${workerAddresses[i]}`,
      `    default_backend kiln-workers${i + 1}`,
      '',
      `backend kiln-workers${i + 1}`,
      '    mode tcp',
      '    option log-health-checks',
      ...check,
      `    default-server ${serverOptions}`,
      ...servers.map((s, j) => `    server kiln${j + 1} ${s}${i === j ? '' : ' backup'}`),
      '',
    ]),
  ].join('\n');
}

/**
 * Starts HAProxy in the foreground in front of `servers`, with its
 * configuration in `dir`, and resolves once both frontends accept
 * connections and every server passed its first health check.
 */
export async function startHaproxy(dir: string, servers: readonly string[]): Promise<Balancer> {
  const address = `127.0.0.1:${await freePort()}`;
  const workerAddresses: string[] = [];
  for (const _ of servers) workerAddresses.push(`127.0.0.1:${await freePort()}`);
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, haproxyConfig(address, workerAddresses, servers));
  // -db: foreground, no daemon; the balancer must not outlive the test.
  const child: ChildProcess = spawn(
    'setpriv',
    ['--pdeathsig=SIGTERM', HAPROXY, '-db', '-f', file],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  const collect = (d: Buffer) => {
    log += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const up = (name: string) => new RegExp(`kiln/${name} succeeded|Server kiln/${name} is UP`);
  const deadline = Date.now() + 20_000;
  // Servers start UP; wait until each one has been checked once.
  while (!servers.every((_, i) => up(`kiln${i + 1}`).test(log))) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy's health checks did not pass in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let stopping: Promise<void> | undefined;
  return {
    address,
    workerAddresses,
    log: () => log,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
      })();
      return stopping;
    },
  };
}
