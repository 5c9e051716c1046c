/**
 * A local HTTP origin for Remote Asset fetches during fuzzing, so that
 * FetchBlob and FetchDirectory get past "cannot connect" without leaving the
 * machine: known blobs, a 404, a slow answer, a large body, a redirect loop
 * and archives that are not archives.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KnownBlob } from './dictionary.ts';

/** A running origin. */
export interface Origin {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  close(): Promise<void>;
}

const HUGE_BYTES = 8 * 1024 * 1024;
const SLOW_MS = 3000;

/** Starts the origin on a free loopback port, serving `blobs` at `/blob/N`. */
export async function startOrigin(blobs: readonly KnownBlob[], garbage: Buffer): Promise<Origin> {
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const blob = /^\/blob\/(\d+)$/.exec(path);
    if (blob) {
      res.end(blobs[Number(blob[1]) % blobs.length]?.data);
    } else if (path === '/slow') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.end('slow');
      }, SLOW_MS);
      timers.add(timer);
      res.on('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
    } else if (path === '/huge') {
      res.writeHead(200, { 'content-length': HUGE_BYTES });
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < HUGE_BYTES) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => {
        sent = HUGE_BYTES;
      });
      pump();
    } else if (path === '/redirect') {
      res.writeHead(302, { location: '/redirect' }).end();
    } else if (path.startsWith('/garbage')) {
      res.end(garbage);
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
