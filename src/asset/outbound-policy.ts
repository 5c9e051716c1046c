/**
 * Which origins Fetch may download from. Checked twice: on every URL before a
 * request (the scheme, the host name against allow and deny patterns, literal
 * IP addresses), and on every address a host name resolves to at connect time
 * (through {@link OutboundPolicy.lookup}, given to the socket), so that
 * neither a redirect nor a DNS name pointing at a forbidden address gets
 * through. Besides the configured rules, loopback, private and other
 * special-purpose addresses are refused unless allowed (server-side request
 * forgery: a client must not reach through Kiln what it cannot reach itself).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { originDenied } from './origin-error.ts';
import { embeddedIpv4, specialNetworkOf } from './special-addresses.ts';

/** Options of {@link OutboundPolicy}. */
export interface OutboundPolicyOptions {
  /** Host patterns allowed; empty allows every host that is not denied. */
  readonly allowedHosts: readonly string[];
  /** Host patterns refused; they win over `allowedHosts`. */
  readonly deniedHosts: readonly string[];
  /** Networks in CIDR form whose addresses are refused. */
  readonly deniedNetworks: readonly string[];
  /** Refuse cloud metadata endpoints by address and by name. */
  readonly blockMetadataAddresses: boolean;
  /** Allow loopback, private and other special-purpose addresses (see special-addresses.ts). */
  readonly allowPrivateNetworks: boolean;
  /** Networks in CIDR form allowed although special-purpose (local mirrors). */
  readonly allowedPrivateNetworks: readonly string[];
  /**
   * Allow loopback addresses although private networks are refused: for
   * protected mode, where every caller is on this machine and reaches its
   * loopback services without Kiln anyway. False by default.
   */
  readonly allowLoopback?: boolean;
}

/** URL schemes Fetch downloads from. */
export const SUPPORTED_SCHEMES: readonly string[] = ['http:', 'https:'];

/**
 * Cloud metadata endpoints: the IPv4 and IPv6 link-local ranges (AWS, GCP and
 * Azure answer on 169.254.169.254), AWS's IPv6 endpoint and Alibaba Cloud's.
 * Refused even when private networks are allowed.
 */
const METADATA_NETWORKS: ReadonlyArray<readonly [string, number]> = [
  ['169.254.0.0', 16],
  ['fe80::', 10],
  ['fd00:ec2::254', 128],
  ['100.100.100.200', 32],
];
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog']);

/** Enforces the outbound rules of the `remoteAsset` configuration. */
export class OutboundPolicy {
  readonly #allowed: readonly string[];
  readonly #denied: readonly string[];
  readonly #deniedNetworks = new BlockList();
  readonly #allowedPrivate = new BlockList();
  readonly #metadata = new BlockList();
  readonly #blockMetadata: boolean;
  readonly #allowPrivate: boolean;
  readonly #allowLoopback: boolean;

  constructor(options: OutboundPolicyOptions) {
    this.#allowed = options.allowedHosts.map(normalizeHost);
    this.#denied = options.deniedHosts.map(normalizeHost);
    this.#blockMetadata = options.blockMetadataAddresses;
    this.#allowPrivate = options.allowPrivateNetworks;
    this.#allowLoopback = options.allowLoopback ?? false;
    addNetworks(this.#deniedNetworks, options.deniedNetworks);
    addNetworks(this.#allowedPrivate, options.allowedPrivateNetworks);
    for (const [address, bits] of METADATA_NETWORKS) {
      this.#metadata.addSubnet(address, bits, familyName(address));
    }
  }

  /**
   * Throws a PERMISSION_DENIED OriginError unless `url` may be requested: its
   * scheme is http or https, its host passes the patterns, and a literal IP
   * host passes the address rules (those are never looked up, so never reach
   * {@link lookup}).
   */
  checkUrl(url: URL): void {
    if (!SUPPORTED_SCHEMES.includes(url.protocol)) {
      throw originDenied(`${redact(url)}: scheme ${url.protocol} is not supported (http, https)`);
    }
    const host = normalizeHost(url.hostname);
    if (this.#blockMetadata && METADATA_HOSTS.has(host)) {
      throw originDenied(`${redact(url)}: cloud metadata hosts are refused`);
    }
    if (this.#denied.some((pattern) => matchesHost(pattern, host))) {
      throw originDenied(`${redact(url)}: host ${host} is denied by remoteAsset.deniedHosts`);
    }
    if (this.#allowed.length > 0 && !this.#allowed.some((pattern) => matchesHost(pattern, host))) {
      throw originDenied(`${redact(url)}: host ${host} is not in remoteAsset.allowedHosts`);
    }
    if (isIP(host) !== 0) this.checkAddress(host, host, url);
  }

  /**
   * Throws a PERMISSION_DENIED OriginError when `address` (which `host`
   * resolved to, or `host` itself for a literal address) is refused: a
   * metadata address, a denied network, or a special-purpose address (loopback,
   * private, link-local, …) that is not allowed. An IPv6 address carrying an
   * IPv4 address (`::ffff:127.0.0.1`) is judged by both. `url`, when given,
   * starts the message.
   */
  checkAddress(address: string, host: string, url?: URL): void {
    // A zone index (`fe80::1%eth0`) does not change which range an address is in.
    const plain = address.split('%')[0] ?? address;
    const v4 = embeddedIpv4(plain);
    const forms = v4 === undefined ? [plain] : [plain, v4];
    const at = url === undefined ? '' : `${redact(url)}: `;
    const which =
      host === address ? `${at}${address}` : `${at}${host} resolves to ${address}, which`;
    const inList = (list: BlockList): boolean => forms.some((a) => list.check(a, familyName(a)));
    if (this.#blockMetadata && inList(this.#metadata)) {
      throw originDenied(
        `${which} is a cloud metadata or link-local address, refused by remoteAsset.blockMetadataAddresses`,
      );
    }
    if (inList(this.#deniedNetworks)) {
      throw originDenied(`${which} is in a network that remoteAsset.deniedNetworks refuses`);
    }
    const special = specialNetworkOf(plain);
    if (special === undefined || this.#allowPrivate || inList(this.#allowedPrivate)) return;
    if (special.loopback && this.#allowLoopback) return;
    const single = v4 ?? plain;
    throw originDenied(
      `${which} is ${special.kind} (${special.cidr}), and Fetch refuses loopback, private and ` +
        'other special-purpose addresses unless allowed (server-side request forgery). To ' +
        `allow it, add the address or its network to remoteAsset.allowedPrivateNetworks ` +
        `(e.g. [${single}/${isIP(single) === 6 ? 128 : 32}]) or set remoteAsset.allowPrivateNetworks: true`,
    );
  }

  /**
   * A drop-in for `dns.lookup` to give sockets as their `lookup` option: it
   * resolves as usual, then fails the connection if any address is refused.
   * Refusing when any (not all) addresses are bad keeps a name with one good
   * and one metadata address from being a way in.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      try {
        for (const { address } of addresses) this.checkAddress(address, hostname);
      } catch (denied) {
        callback(denied as NodeJS.ErrnoException, '', 0);
        return;
      }
      if (options.all) {
        callback(null, addresses);
      } else {
        const first = addresses[0];
        if (first === undefined) callback(new Error(`${hostname} has no addresses`), '', 0);
        else callback(null, first.address, first.family);
      }
    });
  };
}

/** Whether `host` (normalized) matches `pattern`: `*`, `*.suffix` (subdomains only) or exact. */
export function matchesHost(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

function addNetworks(list: BlockList, networks: readonly string[]): void {
  for (const network of networks) {
    const [address = '', bits = ''] = network.split('/');
    list.addSubnet(address, Number(bits), familyName(address));
  }
}

/** Lower case, no trailing dot, no IPv6 brackets. */
function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h;
}

function familyName(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/** A URL for messages and logs: no credentials, no query (signed URLs carry secrets there). */
export function redact(url: URL | string): string {
  if (typeof url === 'string') {
    if (!URL.canParse(url)) return url.length > 200 ? `${url.slice(0, 200)}…` : url;
    url = new URL(url);
  }
  return `${url.protocol}//${url.host}${url.pathname}${url.search === '' ? '' : '?…'}`;
}
