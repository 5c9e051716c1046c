/**
 * A throwaway certificate authority for TLS tests, made with the `openssl`
 * command (Debian package "openssl"): a CA, server certificates for
 * 127.0.0.1 and localhost, and client certificates.
 */
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why TLS tests cannot run here (no `openssl`), or undefined when they can. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'needs the openssl command (Debian package "openssl")';
  }
}

/** A certificate and its key, as PEM files. */
export interface IssuedCertificate {
  readonly cert: string;
  readonly key: string;
}

/** A CA in a directory, issuing certificates signed by it. */
export interface TestCa {
  /** The CA certificate file, to trust. */
  readonly cert: string;
  /** A certificate for `cn`: serverAuth for 127.0.0.1 and localhost, or clientAuth. */
  issue(cn: string, use: 'server' | 'client'): Promise<IssuedCertificate>;
}

/** Creates a CA named `name` under `dir`. */
export async function createTestCa(dir: string, name = 'Kiln Test CA'): Promise<TestCa> {
  const base = join(dir, name.replaceAll(/\W/g, '-'));
  const caCert = `${base}.crt`;
  const caKey = `${base}.key`;
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
    ...['-keyout', caKey, '-out', caCert, '-days', '2', '-subj', `/CN=${name}`],
    ...['-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  let serial = 0;
  return {
    cert: caCert,
    async issue(cn, use) {
      serial += 1;
      const leaf = join(dir, `${cn.replaceAll(/\W/g, '-')}-${serial}`);
      const extensions = `${leaf}.ext`;
      await writeFile(
        extensions,
        use === 'server'
          ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
          : 'extendedKeyUsage=clientAuth\n',
      );
      await run('openssl', [
        ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
        ...['-keyout', `${leaf}.key`, '-out', `${leaf}.csr`, '-subj', `/CN=${cn}`],
      ]);
      await run('openssl', [
        ...['x509', '-req', '-in', `${leaf}.csr`, '-CA', caCert, '-CAkey', caKey],
        ...['-set_serial', String(1000 + serial), '-days', '1', '-sha256'],
        ...['-extfile', extensions, '-out', `${leaf}.crt`],
      ]);
      return { cert: `${leaf}.crt`, key: `${leaf}.key` };
    },
  };
}

/** The subject common name of a PEM certificate file. */
export async function commonName(certFile: string): Promise<string> {
  const cert = new X509Certificate(await readFile(certFile));
  return /CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
}
