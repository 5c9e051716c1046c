/**
 * Looks at a TLS server from outside: which certificate a new connection is
 * shown, and HTTPS requests with chosen trust and client certificates.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { connect } from 'node:tls';

/** PEM files of a TLS client: the CA it trusts, and optionally its own certificate. */
export interface ClientTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

async function readClientTls(tls: ClientTls) {
  const [ca, cert, key] = await Promise.all(
    [tls.ca, tls.cert, tls.key].map((f) => (f === undefined ? undefined : readFile(f))),
  );
  return { ca, cert, key };
}

/** The common name of the certificate a new TLS connection to `host:port` is shown. */
export async function servedName(address: string, tls: ClientTls): Promise<string> {
  const at = address.lastIndexOf(':');
  const options = await readClientTls(tls);
  return new Promise((resolve, reject) => {
    const socket = connect({
      ...options,
      host: address.slice(0, at),
      port: Number(address.slice(at + 1)),
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    socket.once('secureConnect', () => {
      const cn = socket.getPeerCertificate().subject.CN;
      socket.destroy();
      resolve(String(cn));
    });
    socket.once('error', reject);
  });
}

/** GETs `url` over HTTPS; resolves with the status and body. */
export async function httpsGet(
  url: string,
  tls: ClientTls,
): Promise<{ status: number; body: string }> {
  const options = await readClientTls(tls);
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
