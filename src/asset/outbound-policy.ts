/**
 * Which origins Fetch may download from. Checked twice: on every URL before a
 * request (the scheme, the host name against allow and deny patterns, literal
 * IP addresses), and on every address a host name resolves to at connect time
 * (through {@link OutboundPolicy.lookup}, given to the socket), so that
 * neither a redirect nor a DNS name pointing at a forbidden address gets
 * through.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { originDenied } from './origin-error.ts';

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
}

/** URL schemes Fetch downloads from. */
export const SUPPORTED_SCHEMES: readonly string[] = ['http:', 'https:'];

/**
 * Cloud metadata endpoints: the IPv4 and IPv6 link-local ranges (AWS, GCP and
 * Azure answer on 169.254.169.254), AWS's IPv6 endpoint and Alibaba Cloud's.
 * Loopback stays allowed: local mirrors and tests use it.
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
  readonly #metadata = new BlockList();
  readonly #blockMetadata: boolean;

  constructor(options: OutboundPolicyOptions) {
    this.#allowed = options.allowedHosts.map(normalizeHost);
    this.#denied = options.deniedHosts.map(normalizeHost);
    this.#blockMetadata = options.blockMetadataAddresses;
    for (const network of options.deniedNetworks) {
      const [address = '', bits = ''] = network.split('/');
      this.#deniedNetworks.addSubnet(address, Number(bits), familyName(address));
    }
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
    if (isIP(host) !== 0) this.checkAddress(host, host);
  }

  /** Throws a PERMISSION_DENIED OriginError when `address` (which `host` resolved to) is refused. */
  checkAddress(address: string, host: string): void {
    const family = familyName(address);
    if (this.#blockMetadata && this.#metadata.check(address, family)) {
      throw originDenied(
        `${host} resolves to ${address}, a cloud metadata or link-local address, which is refused`,
      );
    }
    if (this.#deniedNetworks.check(address, family)) {
      throw originDenied(
        `${host} resolves to ${address}, which remoteAsset.deniedNetworks refuses`,
      );
    }
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
