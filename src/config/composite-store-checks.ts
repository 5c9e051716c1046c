/**
 * Checks of the store graph that concern the composite and remote kinds and
 * that the schema cannot make alone: a mirror or a partition whose two sides
 * are the same store, shards sharing a store, and a `grpc` store that would
 * call the very server it belongs to.
 */
import { parseGrpcEndpoint } from './grpc-store-schema.ts';
import { type KilnConfig, type StoreConfig, type StoreRef, storeChildren } from './schema.ts';

/** Problems as `path: message`, for {@link checkStoreGraph}. */
export function checkCompositeStores(config: KilnConfig): string[] {
  const problems: string[] = [];
  const visit = (node: StoreConfig, path: string): void => {
    const children = storeChildren(node);
    const byName = new Map<string, string>();
    for (const child of children) {
      if (typeof child.ref !== 'string') continue;
      const earlier = byName.get(child.ref);
      if (earlier !== undefined) {
        problems.push(
          `${path}.${child.field}: store "${child.ref}" is also ${path}.${earlier}; ` +
            `a ${node.kind} store needs distinct stores`,
        );
      } else byName.set(child.ref, child.field);
    }
    if (node.kind === 'grpc') {
      const self = callsItself(node.endpoint, config.server.listen);
      if (self) {
        problems.push(
          `${path}.grpc.endpoint: ${node.endpoint} is this server's own address (server.listen ${config.server.listen}); ` +
            'a grpc store must point at another server',
        );
      }
    }
    for (const child of children) {
      if (typeof child.ref !== 'string') visit(child.ref, `${path}.${child.field}`);
    }
  };
  for (const [name, node] of Object.entries(config.storage.stores)) {
    visit(node, `storage.stores.${name}`);
  }
  for (const role of ['cas', 'actionCache', 'assets'] as const) {
    const ref: StoreRef = config.storage[role];
    if (typeof ref !== 'string') visit(ref, `storage.${role}`);
  }
  return problems;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '0.0.0.0', '[::]']);

function callsItself(endpoint: string, listen: string): boolean {
  const address = parseGrpcEndpoint(endpoint)?.address;
  if (address === undefined) return false;
  const split = (hostPort: string) => {
    const at = hostPort.lastIndexOf(':');
    return { host: hostPort.slice(0, at), port: hostPort.slice(at + 1) };
  };
  const target = split(address);
  const own = split(listen);
  if (target.port !== own.port || own.port === '0') return false;
  return target.host === own.host || (LOOPBACK.has(target.host) && LOOPBACK.has(own.host));
}
