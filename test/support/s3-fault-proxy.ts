/**
 * An HTTP proxy between Kiln and an S3 server, for tests: it counts every
 * request by S3 operation (what the server is asked, whatever the client
 * believes it sent) and injects faults: error statuses with S3 error bodies
 * (503 SlowDown, 500 InternalError), a connection reset in the middle of a
 * response body, a response that stalls before or in the middle of its body,
 * a request held back until the test lets it through, and refusing
 * everything (the store is down). Requests are forwarded unchanged, Host
 * header included, so SigV4 signatures still verify.
 */
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does to one request. */
export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly code: string }
  /** Forwards the headers and `afterBytes` bytes of the body, then resets the connection. */
  | { readonly kind: 'resetMidBody'; readonly afterBytes: number }
  /** Never answers. */
  | { readonly kind: 'stall' }
  /** Forwards the headers and `afterBytes` bytes of the body, then sends nothing more. */
  | { readonly kind: 'stallMidBody'; readonly afterBytes: number }
  /** Closes the connection without an answer. */
  | { readonly kind: 'drop' }
  /** Forwards the request unchanged once `until` settles. */
  | { readonly kind: 'hold'; readonly until: Promise<unknown> };

/** The S3 operations the proxy tells apart. */
export type S3Operation = 'GET' | 'HEAD' | 'PUT' | 'LIST' | 'POST' | 'DELETE' | 'COPY' | 'OTHER';

/** Decides the fault for a request (undefined: forward it). */
export type FaultRule = (request: {
  method: string;
  url: string;
  operation: S3Operation;
}) => Fault | undefined;

/** A running proxy. */
export interface S3FaultProxy {
  /** `http://127.0.0.1:PORT`: the endpoint to give Kiln. */
  readonly endpoint: string;
  /** Requests received per operation since the last {@link resetCounts}. */
  readonly counts: Record<S3Operation, number>;
  /**
   * Requests that broke the rules Kiln's requests must follow, however
   * lenient the emulator: each signed with SigV4, an upload's length and
   * checksum declared, ranges well formed. Empty when all were fine.
   */
  readonly violations: readonly string[];
  /** Total requests since the last {@link resetCounts}. */
  total(): number;
  resetCounts(): void;
  /** Sets the rule that picks faults; undefined forwards everything. */
  setFault(rule: FaultRule | undefined): void;
  /** Injects `fault` into the next `times` requests of `operation` (any when undefined). */
  failNext(times: number, fault: Fault, operation?: S3Operation): void;
  stop(): Promise<void>;
}

function operationOf(req: IncomingMessage): S3Operation {
  const url = new URL(req.url ?? '/', 'http://proxy');
  switch (req.method) {
    case 'GET': {
      // Path style: /bucket lists, /bucket/key gets.
      const segments = url.pathname.split('/').filter((s) => s !== '');
      return segments.length <= 1 ? 'LIST' : 'GET';
    }
    case 'HEAD':
      return 'HEAD';
    case 'PUT':
      return req.headers['x-amz-copy-source'] === undefined ? 'PUT' : 'COPY';
    case 'POST':
      return 'POST';
    case 'DELETE':
      return 'DELETE';
    default:
      return 'OTHER';
  }
}

/** What is wrong with a request Kiln sent, by the rules real S3 servers enforce. */
function checkRequest(req: IncomingMessage, operation: S3Operation): string[] {
  const problems: string[] = [];
  const h = req.headers;
  if (
    !/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[^/]+\/s3\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/.test(
      h.authorization ?? '',
    )
  ) {
    problems.push(`not signed with SigV4: ${h.authorization ?? 'no Authorization header'}`);
  }
  if (h['x-amz-content-sha256'] === undefined) problems.push('no x-amz-content-sha256 header');
  if (h['x-amz-date'] === undefined) problems.push('no x-amz-date header');
  if (operation === 'PUT') {
    if (h['content-length'] === undefined) problems.push('an upload without Content-Length');
    const checksum =
      Object.keys(h).some((k) => k.startsWith('x-amz-checksum-')) || h['content-md5'] !== undefined;
    if (!checksum && h['x-amz-trailer'] === undefined)
      problems.push('an upload without a checksum');
  }
  const range = h.range;
  if (range !== undefined) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(range);
    if (m === null || (m[2] !== '' && Number(m[2]) < Number(m[1])))
      problems.push(`malformed Range "${range}"`);
    if (operation !== 'GET') problems.push(`Range on a ${operation}`);
  }
  return problems;
}

function emptyCounts(): Record<S3Operation, number> {
  return { GET: 0, HEAD: 0, PUT: 0, LIST: 0, POST: 0, DELETE: 0, COPY: 0, OTHER: 0 };
}

/** Starts a proxy on a free loopback port in front of `target` (`http://host:port`). */
export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  let counts = emptyCounts();
  let rule: FaultRule | undefined;
  const queued: Array<{ fault: Fault; operation: S3Operation | undefined; left: number }> = [];
  const sockets = new Set<Socket>();

  const pick = (method: string, url: string, operation: S3Operation): Fault | undefined => {
    const entry = queued.find((q) => q.operation === undefined || q.operation === operation);
    if (entry !== undefined) {
      if (--entry.left === 0) queued.splice(queued.indexOf(entry), 1);
      return entry.fault;
    }
    return rule?.({ method, url, operation });
  };

  const violations: string[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const operation = operationOf(req);
    counts[operation]++;
    for (const problem of checkRequest(req, operation)) {
      violations.push(`${req.method} ${req.url}: ${problem}`);
    }
    const fault = pick(req.method ?? 'GET', req.url ?? '/', operation);
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'stall') {
      req.resume();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message><RequestId>proxy</RequestId></Error>`;
      res.writeHead(fault.status, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    if (fault?.kind === 'hold') {
      void fault.until.finally(() => forward(req, res, undefined));
      return;
    }
    forward(req, res, fault);
  };

  /** Sends `req` on to the server, with a fault in the answer's body, if any. */
  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    fault: Extract<Fault, { afterBytes: number }> | undefined,
  ): void => {
    const onward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault === undefined || req.method === 'HEAD') {
          answer.pipe(res);
          return;
        }
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= fault.afterBytes) return;
          const part = chunk.subarray(0, fault.afterBytes - sent);
          sent += part.byteLength;
          res.write(part);
          if (sent >= fault.afterBytes) {
            if (fault.kind === 'resetMidBody') {
              // Let the bytes leave before the reset.
              setTimeout(() => res.socket?.resetAndDestroy(), 20);
            }
            answer.destroy();
          }
        });
        answer.on('end', () => {
          if (sent < fault.afterBytes) res.end();
        });
      },
    );
    onward.on('error', () => res.socket?.destroy());
    req.pipe(onward);
  };

  const server: Server = createServer(handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get counts() {
      return counts;
    },
    violations,
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    resetCounts: () => {
      counts = emptyCounts();
    },
    setFault: (next) => {
      rule = next;
    },
    failNext: (times, fault, operation) => {
      queued.push({ fault, operation, left: times });
    },
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
