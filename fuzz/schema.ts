/**
 * Finds every method the fuzzer should call, without a hand-kept list: every
 * gRPC service definition exported by the generated code in `src/gen/` (the
 * definitions Kiln serves), each method paired with the descriptor of its
 * request message. The descriptors come from the same `.proto` files the
 * generated code was made from (`proto/` and google-proto-files), compiled
 * by buf into a FileDescriptorSet, so the fuzzer can build messages field
 * by field. A new RPC is fuzzed as soon as `npm run gen` has generated it.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createFileRegistry,
  type DescMessage,
  type FileRegistry,
  fromBinary,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/** One RPC to fuzz. */
export interface FuzzMethod {
  /** Short service name, as in Kiln's metrics: `ContentAddressableStorage`. */
  readonly service: string;
  /** Method name: `FindMissingBlobs`. */
  readonly name: string;
  /** `service.method`, the key of the report's rows. */
  readonly key: string;
  /** The HTTP/2 path: `/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs`. */
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  /** The request message's descriptor; undefined if the `.proto` files lack it (random bytes only). */
  readonly input: DescMessage | undefined;
}

/** What {@link discoverMethods} found. */
export interface FuzzSchema {
  readonly methods: readonly FuzzMethod[];
  /** Every message type of the protos, for looking up types by name. */
  readonly registry: FileRegistry;
}

interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

function isServiceDefinition(value: unknown): value is Record<string, MethodDefinition> {
  if (typeof value !== 'object' || value === null) return false;
  const methods = Object.values(value);
  return (
    methods.length > 0 &&
    methods.every(
      (m: unknown) =>
        typeof m === 'object' &&
        m !== null &&
        typeof (m as MethodDefinition).path === 'string' &&
        typeof (m as MethodDefinition).requestStream === 'boolean' &&
        typeof (m as MethodDefinition).responseStream === 'boolean',
    )
  );
}

/** The generated modules under `src/gen/`, relative to it (`google/bytestream/bytestream.js`). */
function generatedModules(root: string): string[] {
  const genDir = join(root, 'src', 'gen');
  return readdirSync(genDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.js'))
    .sort();
}

/** Every method of every service definition the generated modules export, by path. */
async function generatedMethods(root: string): Promise<MethodDefinition[]> {
  const byPath = new Map<string, MethodDefinition>();
  for (const file of generatedModules(root)) {
    const module = (await import(pathToFileURL(join(root, 'src', 'gen', file)).href)) as Record<
      string,
      unknown
    >;
    for (const value of Object.values(module)) {
      if (!isServiceDefinition(value)) continue;
      for (const method of Object.values(value)) byPath.set(method.path, method);
    }
  }
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Compiles the `.proto` files behind the generated modules into a registry.
 * Each `src/gen/X.js` came from `X.proto`, found in `proto/` or in
 * google-proto-files; buf supplies the well-known types itself.
 */
function compileProtos(root: string): FileRegistry {
  const staging = mkdtempSync(join(tmpdir(), 'kiln-fuzz-protos-'));
  try {
    for (const file of generatedModules(root)) {
      const proto = file.replace(/\.js$/, '.proto');
      if (proto.startsWith('google/protobuf/')) continue;
      const source = [
        join(root, 'proto', proto),
        join(root, 'node_modules/google-proto-files', proto),
      ].find((path) => existsSync(path));
      if (source === undefined) continue;
      mkdirSync(dirname(join(staging, proto)), { recursive: true });
      cpSync(source, join(staging, proto));
    }
    writeFileSync(join(staging, 'buf.yaml'), 'version: v2\n');
    const out = join(staging, 'image.binpb');
    execFileSync(
      join(root, 'node_modules/.bin/buf'),
      ['build', staging, '--as-file-descriptor-set', '-o', out],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Finds every method of every generated service and its request descriptor. */
export async function discoverMethods(root: string): Promise<FuzzSchema> {
  const registry = compileProtos(root);
  const methods = (await generatedMethods(root)).map((definition): FuzzMethod => {
    const [, fullService = '', name = ''] = /^\/([^/]+)\/([^/]+)$/.exec(definition.path) ?? [];
    const service = registry.getService(fullService);
    const input = service?.methods.find((m) => m.name === name)?.input;
    const shortService = fullService.slice(fullService.lastIndexOf('.') + 1);
    return {
      service: shortService,
      name,
      key: `${shortService}.${name}`,
      path: definition.path,
      requestStream: definition.requestStream,
      responseStream: definition.responseStream,
      input,
    };
  });
  return { methods, registry };
}
