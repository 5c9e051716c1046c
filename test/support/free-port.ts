/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, for a server
 * that must come back on the same port after a restart (or whose port must
 * be known before it starts). Another process could take it meanwhile; the
 * tests that use it start their server at once.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port was assigned');
  return address.port;
}
