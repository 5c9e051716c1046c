/**
 * The address ranges that are not the public internet: loopback, private
 * (RFC 1918, IPv6 unique local), carrier-grade NAT, link-local, unspecified,
 * multicast, documentation and other reserved ranges. A Fetch origin in one
 * of them would let a client use Kiln's network position to reach services
 * it cannot reach itself (server-side request forgery), so the outbound
 * policy refuses them unless configured. IPv6 addresses that carry an IPv4
 * address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by the IPv4
 * address they carry.
 */
import { BlockList, isIP } from 'node:net';

/** One special-purpose range. */
export interface SpecialNetwork {
  /** CIDR form, as a user would write it in `remoteAsset.allowedPrivateNetworks`. */
  readonly cidr: string;
  /** What it is, for messages: "a loopback address". */
  readonly kind: string;
  /** Whether it is loopback, the one kind protected mode may allow. */
  readonly loopback: boolean;
}

const RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'a private (RFC 1918) address'],
  ['100.64.0.0', 10, 'a carrier-grade NAT (RFC 6598) address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address'],
  ['172.16.0.0', 12, 'a private (RFC 1918) address'],
  ['192.0.0.0', 24, 'a reserved (IETF protocol assignments) address'],
  ['192.0.2.0', 24, 'a documentation (TEST-NET-1) address'],
  ['192.88.99.0', 24, 'a reserved (6to4 relay) address'],
  ['192.168.0.0', 16, 'a private (RFC 1918) address'],
  ['198.18.0.0', 15, 'a reserved (benchmarking) address'],
  ['198.51.100.0', 24, 'a documentation (TEST-NET-2) address'],
  ['203.0.113.0', 24, 'a documentation (TEST-NET-3) address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved (class E or broadcast) address'],
  ['::', 128, 'the unspecified address'],
  ['::1', 128, 'a loopback address'],
  ['64:ff9b:1::', 48, 'a local-use NAT64 (RFC 8215) address'],
  ['100::', 64, 'a discard-only address'],
  ['2001:db8::', 32, 'a documentation address'],
  ['fc00::', 7, 'a unique local (private IPv6) address'],
  ['fe80::', 10, 'a link-local address'],
  ['fec0::', 10, 'a site-local address'],
  ['ff00::', 8, 'a multicast address'],
];

const NETWORKS: ReadonlyArray<{ readonly network: SpecialNetwork; readonly list: BlockList }> =
  RANGES.map(([address, bits, kind]) => {
    const list = new BlockList();
    list.addSubnet(address, bits, familyName(address));
    return {
      network: {
        cidr: `${address}/${bits}`,
        kind,
        loopback: address === '127.0.0.0' || address === '::1',
      },
      list,
    };
  });

const ALL = new BlockList();
for (const [address, bits] of RANGES) ALL.addSubnet(address, bits, familyName(address));

/**
 * The special-purpose range `address` (an IP address, either family) falls
 * in, judging IPv6 forms that carry an IPv4 address by that address;
 * undefined for an ordinary public address.
 */
export function specialNetworkOf(address: string): SpecialNetwork | undefined {
  const target = embeddedIpv4(address) ?? stripZone(address);
  const family = familyName(target);
  if (!ALL.check(target, family)) return undefined;
  return NETWORKS.find((n) => n.list.check(target, family))?.network;
}

/**
 * The IPv4 address an IPv6 address carries, if it is one of the forms that
 * reach (or translate to) that IPv4 address: IPv4-mapped `::ffff:a.b.c.d`,
 * SIIT `::ffff:0:a.b.c.d`, the deprecated IPv4-compatible `::a.b.c.d`, NAT64
 * `64:ff9b::a.b.c.d` and 6to4 `2002:AABB:CCDD::`.
 */
export function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (g === undefined) return undefined;
  const zeros = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const [g0, g1, g2, , g4, g5, g6 = 0, g7 = 0] = g;
  if (zeros(0, 5) && g5 === 0xffff) return v4(g6, g7);
  if (zeros(0, 4) && g4 === 0xffff && g5 === 0) return v4(g6, g7);
  // `::` and `::1` are IPv6's own unspecified and loopback addresses.
  if (zeros(0, 6) && !(g6 === 0 && g7 <= 1)) return v4(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && zeros(2, 6)) return v4(g6, g7);
  if (g0 === 0x2002) return v4(g1 ?? 0, g2 ?? 0);
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address, or undefined for anything else. */
function ipv6Groups(address: string): number[] | undefined {
  let text = stripZone(address).toLowerCase();
  if (isIP(text) !== 6) return undefined;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(fill).fill('0'), ...tailGroups];
  return groups.length === 8 ? groups.map((x) => Number.parseInt(x, 16)) : undefined;
}

/** Without an IPv6 zone index (`fe80::1%eth0`). */
function stripZone(address: string): string {
  const at = address.indexOf('%');
  return at < 0 ? address : address.slice(0, at);
}

function familyName(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}
