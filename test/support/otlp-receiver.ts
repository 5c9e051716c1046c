/**
 * A small OpenTelemetry collector for tests: an HTTP server on 127.0.0.1
 * that accepts OTLP/HTTP JSON trace exports (POST /v1/traces) and decodes
 * their spans, with the service.name of the process that sent each one.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One received span, ids as lowercase hex. */
export interface ReceivedSpan {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** String, integer and boolean attribute values by key. */
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly events: readonly string[];
  /** The events' attributes, in the order of `events`. */
  readonly eventAttributes: readonly Readonly<Record<string, string | number | boolean>>[];
}

interface JsonValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface JsonAttribute {
  key: string;
  value: JsonValue;
}
interface JsonSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: JsonAttribute[];
  status?: { code?: number };
  events?: { name: string; attributes?: JsonAttribute[] }[];
}
interface JsonExport {
  resourceSpans?: {
    resource?: { attributes?: JsonAttribute[] };
    scopeSpans?: { spans?: JsonSpan[] }[];
  }[];
}

function attributeValue(v: JsonValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  return v.doubleValue ?? '';
}

function attributesOf(
  list: JsonAttribute[] | undefined,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const a of list ?? []) out[a.key] = attributeValue(a.value);
  return out;
}

/** OTLP JSON ids are hex; base64 (protobuf JSON mapping) is accepted too. */
function hexId(id: string | undefined, bytes: number): string {
  if (id === undefined || id === '') return '';
  if (new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(id)) return id;
  return Buffer.from(id, 'base64').toString('hex');
}

/** Decodes one OTLP/HTTP JSON export body. */
export function decodeExport(body: string): ReceivedSpan[] {
  const request = JSON.parse(body) as JsonExport;
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const s of scope.spans ?? []) {
        spans.push({
          service,
          name: s.name,
          traceId: hexId(s.traceId, 16),
          spanId: hexId(s.spanId, 8),
          parentSpanId: hexId(s.parentSpanId, 8),
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          attributes: attributesOf(s.attributes),
          statusCode: s.status?.code ?? 0,
          events: (s.events ?? []).map((e) => e.name),
          eventAttributes: (s.events ?? []).map((e) => attributesOf(e.attributes)),
        });
      }
    }
  }
  return spans;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT` (the exporter adds `/v1/traces`). */
  readonly url: string;
  /** Every span received so far. */
  readonly spans: ReceivedSpan[];
  /** Export requests received (each is one POST). */
  readonly requests: () => number;
  close(): Promise<void>;
}

/** Starts a receiver on a free 127.0.0.1 port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      requests++;
      try {
        spans.push(...decodeExport(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (err) {
        res.writeHead(400).end(String(err));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
