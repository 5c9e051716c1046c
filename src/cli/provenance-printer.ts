/**
 * Prints who wrote an action cache entry (`kiln ac get`, `kiln ac purge`).
 */
import { msOf } from '../cache/provenance.ts';
import { type Provenance, Provenance_Source } from '../gen/kiln/cache/v1/entry.js';
import { table } from './cli-output.ts';

/** The `--json` form of provenance. */
export function provenanceJson(p: Provenance): Record<string, unknown> {
  return {
    source: sourceName(p.source),
    principal: p.principal,
    worker: p.worker,
    workerSession: p.workerSession,
    workerPrincipal: p.workerPrincipal,
    toolInvocationId: p.toolInvocationId,
    clientAddress: p.clientAddress,
    writtenAt: p.writtenAt === undefined ? undefined : new Date(msOf(p.writtenAt)).toISOString(),
  };
}

/** `upload`, `execution` or `unknown`. */
export function sourceName(source: Provenance['source']): string {
  if (source === Provenance_Source.UPLOAD) return 'upload';
  if (source === Provenance_Source.EXECUTION) return 'execution';
  return 'unknown';
}

/** The "written by" block of `kiln ac get`. */
export function provenanceText(p: Provenance | undefined, note?: string): string {
  if (p === undefined)
    return `written by  ${note ?? 'not recorded (an entry older than provenance)'}`;
  const rows: string[][] = [
    ['written by', p.principal === '' ? '(no authentication)' : p.principal],
    ['source', sourceName(p.source) === 'upload' ? 'upload (UpdateActionResult)' : 'execution'],
  ];
  if (p.worker !== '') {
    const principal = p.workerPrincipal === '' ? '' : `, principal ${p.workerPrincipal}`;
    rows.push(['worker', `${p.worker}${principal}`]);
    if (p.workerSession !== '') rows.push(['bot session', p.workerSession]);
  }
  if (p.toolInvocationId !== '') rows.push(['invocation', p.toolInvocationId]);
  if (p.clientAddress !== '') rows.push(['client', p.clientAddress]);
  if (p.writtenAt !== undefined)
    rows.push(['written at', new Date(msOf(p.writtenAt)).toISOString()]);
  return table(rows);
}
