/**
 * A strict reader of the Prometheus text exposition format (0.0.4), enough
 * to check that /metrics is well-formed and to read values out of it.
 */

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed exposition. */
export interface Exposition {
  /** Family name → type (counter, gauge, histogram, summary, untyped). */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)( -?\\d+)?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Parses `text`, throwing on the first line that is not valid exposition format. */
export function parsePrometheusText(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('exposition must end with a newline');
  for (const [i, line] of lines.slice(0, -1).entries()) {
    const at = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [, name, type] = line.split(' ').slice(1);
      if (name === undefined || !new RegExp(`^${NAME}$`).test(name) || !TYPES.has(type ?? '')) {
        throw new Error(`bad TYPE, ${at}`);
      }
      if (types.has(name)) throw new Error(`second TYPE for ${name}, ${at}`);
      types.set(name, type as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`bad sample, ${at}`);
    const name = m[1] as string;
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const l = LABEL.exec(body);
      if (l === null) throw new Error(`bad labels, ${at}`);
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const raw = m[4] as string;
    // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case.
    const special: Record<string, number> = {
      nan: Number.NaN,
      '+inf': Infinity,
      inf: Infinity,
      '-inf': -Infinity,
    };
    const value = special[raw.toLowerCase()] ?? Number(raw);
    if (Number.isNaN(value) && raw.toLowerCase() !== 'nan') throw new Error(`bad value, ${at}`);
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(name) && !types.has(family)) throw new Error(`sample without TYPE, ${at}`);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

/** The value of the first sample named `name` whose labels include `labels`. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  return exposition.samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}
