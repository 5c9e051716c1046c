/**
 * Renders a kustomization the way `kustomize build` does, for the subset of
 * kustomize that Kiln's manifests use: `resources` (files and directories
 * with their own kustomization), `patches` by path (strategic merge of maps,
 * lists replaced, `$patch: delete`), and `images`. No kustomize runs in
 * JavaScript; a kustomization with any other field is refused rather than
 * rendered wrongly.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** A Kubernetes object as parsed from YAML. */
export type Manifest = Record<string, unknown> & {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string } & Record<string, unknown>;
};

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches', 'images']);

/** Every file a rendering read, relative to the directory given: to find files no one uses. */
export interface Rendered {
  readonly objects: Manifest[];
  readonly files: Set<string>;
}

/** The YAML documents of `file`, each a mapping; throws with the file's name otherwise. */
export function readManifests(file: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${file}: no YAML documents`);
  return docs.map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${file}: document ${i + 1} is not a mapping`);
    }
    return value as Record<string, unknown>;
  });
}

/** Renders the kustomization in `dir`. */
export function renderKustomization(dir: string, files = new Set<string>()): Rendered {
  const file = join(dir, 'kustomization.yaml');
  files.add(file);
  const [kustomization] = readManifests(file);
  if (kustomization === undefined) throw new Error(`${file}: empty`);
  for (const field of Object.keys(kustomization)) {
    if (!KNOWN_FIELDS.has(field)) {
      throw new Error(`${file}: "${field}" is beyond what this renderer supports`);
    }
  }
  const objects: Manifest[] = [];
  for (const resource of asList<string>(kustomization.resources, file, 'resources')) {
    const path = join(dir, resource);
    if (statSync(path).isDirectory()) {
      objects.push(...renderKustomization(path, files).objects);
    } else {
      files.add(path);
      objects.push(...readManifests(path).map((m) => asManifest(m, path)));
    }
  }
  for (const patch of asList<{ path: string }>(kustomization.patches, file, 'patches')) {
    const path = join(dir, patch.path);
    files.add(path);
    for (const doc of readManifests(path)) applyPatch(objects, asManifest(doc, path), path);
  }
  const images = asList<{ name: string; newName?: string; newTag?: string }>(
    kustomization.images,
    file,
    'images',
  );
  for (const object of objects) setImages(object, images);
  assertUnique(objects, file);
  return { objects, files };
}

/** `kind/name` of an object, for messages and lookups. */
export function keyOf(object: Manifest): string {
  return `${object.kind}/${object.metadata.name}`;
}

function asList<T>(value: unknown, file: string, field: string): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error(`${file}: ${field} is not a list`);
  return value as T[];
}

function asManifest(value: Record<string, unknown>, file: string): Manifest {
  const metadata = value.metadata as { name?: unknown } | undefined;
  if (
    typeof value.apiVersion !== 'string' ||
    typeof value.kind !== 'string' ||
    typeof metadata?.name !== 'string'
  ) {
    throw new Error(`${file}: a document without apiVersion, kind or metadata.name`);
  }
  return value as Manifest;
}

function applyPatch(objects: Manifest[], patch: Manifest, file: string): void {
  const at = objects.findIndex(
    (o) => o.apiVersion === patch.apiVersion && keyOf(o) === keyOf(patch),
  );
  if (at < 0) throw new Error(`${file}: patches ${keyOf(patch)}, which no resource defines`);
  if (patch.$patch === 'delete') {
    objects.splice(at, 1);
    return;
  }
  objects[at] = merge(objects[at], patch) as Manifest;
}

/** Maps merge key by key; anything else (lists included) is replaced. */
function merge(base: unknown, patch: unknown): unknown {
  if (!isMap(base) || !isMap(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    out[key] = value === null ? undefined : merge(base[key], value);
    if (value === null) delete out[key];
  }
  return out;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function setImages(
  object: Manifest,
  images: readonly { name: string; newName?: string; newTag?: string }[],
): void {
  const spec = (object.spec as { template?: { spec?: Record<string, unknown> } } | undefined)
    ?.template?.spec;
  for (const field of ['containers', 'initContainers']) {
    for (const container of (spec?.[field] ?? []) as { image?: string }[]) {
      const image = images.find((i) => i.name === imageName(container.image ?? ''));
      if (image !== undefined) {
        container.image = `${image.newName ?? image.name}${image.newTag ? `:${image.newTag}` : ''}`;
      }
    }
  }
}

/** An image reference without its tag or digest, as kustomize matches `images[].name`. */
function imageName(reference: string): string {
  const bare = reference.split('@')[0] ?? '';
  const colon = bare.lastIndexOf(':');
  return colon > bare.lastIndexOf('/') ? bare.slice(0, colon) : bare;
}

function assertUnique(objects: readonly Manifest[], file: string): void {
  const seen = new Set<string>();
  for (const object of objects) {
    const key = `${object.apiVersion}/${keyOf(object)}`;
    if (seen.has(key)) throw new Error(`${file}: ${key} is defined twice`);
    seen.add(key);
  }
}

/** `path` relative to `root`, for messages. */
export function shortPath(root: string, path: string): string {
  return relative(root, path) || dirname(path);
}
