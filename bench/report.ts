/**
 * The benchmark's results: one row per measurement with its target, printed
 * as a Markdown table and saved as JSON.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname } from 'node:path';

/** A target a number must meet. */
export interface Target {
  readonly op: '>=' | '<=';
  readonly value: number;
}

/** One line of the results. */
export interface ResultRow {
  readonly name: string;
  readonly unit: string;
  /** Best sample (highest rate, or lowest time or memory). */
  readonly best: number;
  readonly median: number;
  readonly samples: readonly number[];
  readonly target?: Target;
  /** Mean CPU use in cores while the samples ran: server, client, and everything else. */
  readonly cpu?: { readonly server: number; readonly client: number; readonly other: number };
  readonly note?: string;
  /**
   * The median against a reference measured in the same run (see
   * reference-bench.ts): `value` times the reference named `to`.
   */
  readonly ratio?: { readonly value: number; readonly to: string };
}

/** Whether the median meets the row's target; undefined when it has none. */
export function targetMet(row: ResultRow): boolean | undefined {
  if (row.target === undefined) return undefined;
  return row.target.op === '>=' ? row.median >= row.target.value : row.median <= row.target.value;
}

function formatNumber(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatRatio(ratio: ResultRow['ratio']): string {
  if (ratio === undefined) return '';
  const digits = ratio.value >= 100 ? 0 : ratio.value >= 10 ? 1 : ratio.value >= 0.1 ? 2 : 3;
  return `${ratio.value.toFixed(digits)} ${ratio.to}`;
}

/** The results as a Markdown table. Targets are judged on the median. */
export function toMarkdown(rows: readonly ResultRow[]): string {
  const ratios = rows.some((r) => r.ratio !== undefined);
  const lines = [
    '| Measurement | Best | Median | Unit | Target | Met | Server CPU | Client CPU | Other CPU |' +
      (ratios ? ' × reference |' : ''),
    `|---|---:|---:|---|---|---|---:|---:|---:|${ratios ? '---:|' : ''}`,
  ];
  for (const row of rows) {
    const met = targetMet(row);
    const target = row.target ? `${row.target.op} ${formatNumber(row.target.value)}` : '';
    const cpu = (v: number | undefined): string => (v === undefined ? '' : `${v.toFixed(2)}`);
    lines.push(
      `| ${row.name} | ${formatNumber(row.best)} | ${formatNumber(row.median)} | ${row.unit} | ` +
        `${target} | ${met === undefined ? '' : met ? 'yes' : '**no**'} | ` +
        `${cpu(row.cpu?.server)} | ${cpu(row.cpu?.client)} | ${cpu(row.cpu?.other)} |` +
        (ratios ? ` ${formatRatio(row.ratio)} |` : ''),
    );
  }
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.name}: ${r.note}`);
  return [...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

/** Writes the rows and the environment they were measured in as JSON. */
export async function writeJson(path: string, rows: readonly ResultRow[]): Promise<void> {
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    results: rows.map((row) => ({ ...row, met: targetMet(row) })),
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
