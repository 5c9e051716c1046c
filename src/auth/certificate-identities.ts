/**
 * `auth.certificates`: principals of mutual-TLS clients by their
 * certificate, matched on subject attributes (`CN=worker-7,O=Example`) or
 * a subject alternative name (`DNS:…`, `URI:…`, `email:…`). Only
 * certificates the TLS handshake verified against `server.tls.clientCa`
 * reach this (grpc-js reports no certificate for an unverified peer).
 */
import type { PeerCertificate } from 'node:tls';
import type { CertificateIdentityConfig } from '../config/auth-schema.ts';
import type { Identity } from './permissions.ts';

interface Matcher {
  readonly subject: ReadonlyArray<readonly [string, string]>;
  readonly san: string | undefined;
  readonly identity: Identity;
}

/** `CN=a, O=b` → `[["CN","a"],["O","b"]]`. */
function parseSubject(subject: string): Array<[string, string]> {
  return subject.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
  });
}

/**
 * The subject alternative names of a certificate as `TYPE:value` strings.
 * Node writes names with special characters as JSON strings (`DNS:"a,b"`),
 * so a comma inside a name cannot forge a second name.
 */
export function subjectAltNames(cert: PeerCertificate): string[] {
  const names: string[] = [];
  const text = cert.subjectaltname ?? '';
  const pattern = /([^:,]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const match of text.matchAll(pattern)) {
    const type = (match[1] as string).trim();
    const raw = match[2] as string;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue;
      }
    }
    names.push(`${type}:${value}`);
  }
  return names;
}

function subjectHas(cert: PeerCertificate, attribute: string, value: string): boolean {
  const actual = (cert.subject as unknown as Record<string, string | string[] | undefined>)?.[
    attribute
  ];
  return Array.isArray(actual) ? actual.includes(value) : actual === value;
}

/** Maps verified client certificates to identities. */
export class CertificateIdentities {
  readonly #matchers: readonly Matcher[];

  constructor(entries: readonly CertificateIdentityConfig[]) {
    this.#matchers = entries.map((e) => ({
      subject: e.subject === undefined ? [] : parseSubject(e.subject),
      san: e.san,
      identity: {
        principal: e.principal,
        authenticated: true,
        permissions: new Set(e.permissions),
        instances: [...e.instances],
      },
    }));
  }

  /** How many entries there are. */
  get size(): number {
    return this.#matchers.length;
  }

  /** The identity of the first entry `cert` matches (every attribute given, and the SAN), or undefined. */
  identify(cert: PeerCertificate): Identity | undefined {
    let sans: string[] | undefined;
    for (const m of this.#matchers) {
      if (!m.subject.every(([attribute, value]) => subjectHas(cert, attribute, value))) continue;
      if (m.san !== undefined) {
        sans ??= subjectAltNames(cert);
        if (!sans.includes(m.san)) continue;
      }
      return m.identity;
    }
    return undefined;
  }
}
