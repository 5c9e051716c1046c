/**
 * Classifies addresses as loopback or not, for protected mode: grpc-js
 * peers (`127.0.0.1:5000`, `::1:5000`, `::ffff:127.0.0.1:5000`) and listen
 * hosts (`127.0.0.1`, `[::1]`, `localhost`).
 */
import { isIP } from 'node:net';

/** Whether an IP address (no port) is a loopback address. */
export function isLoopbackIp(ip: string): boolean {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  // The URL parser writes IPv6 addresses in their canonical, compressed form.
  return isIP(bare) === 6 && new URL(`http://[${bare}]/`).hostname === '[::1]';
}

/**
 * Whether a grpc-js peer string (`ADDRESS:PORT`, as `call.getPeer()` gives)
 * is a loopback caller. `unknown` (no socket address) is not.
 */
export function isLoopbackPeer(peer: string): boolean {
  const colon = peer.lastIndexOf(':');
  if (colon <= 0) return false;
  return isLoopbackIp(peer.slice(0, colon));
}

/** Whether a listen host reaches loopback callers only (`127.0.0.1`, `[::1]`, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopbackIp(host);
}
