/**
 * The keys the schema allows at a path of a configuration, found by walking
 * the zod schema itself, so that an unknown key can be answered with the
 * closest allowed one ("did you mean maxSize?") without a second list of
 * names to keep in step.
 */
import type { z } from 'zod';

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  in?: z.ZodType;
  innerType?: z.ZodType;
  options?: readonly z.ZodType[];
  valueType?: z.ZodType;
  element?: z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
};

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas `schema` may stand for, looking through wrappers, pipes and unions. */
function objectsOf(schema: z.ZodType, depth = 0): Def[] {
  if (depth > 20) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'object':
      return [def];
    case 'pipe':
      return def.in === undefined ? [] : objectsOf(def.in, depth + 1);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType === undefined ? [] : objectsOf(def.innerType, depth + 1);
    case 'lazy':
      return def.getter === undefined ? [] : objectsOf(def.getter(), depth + 1);
    case 'union':
      return (def.options ?? []).flatMap((o) => objectsOf(o, depth + 1));
    case 'intersection':
      return [def.left, def.right].flatMap((s) => (s === undefined ? [] : objectsOf(s, depth + 1)));
    default:
      return [];
  }
}

/** Schemas reached by one path segment from `schema`. */
function step(schema: z.ZodType, segment: PropertyKey, depth = 0): z.ZodType[] {
  if (depth > 20) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const child = def.shape?.[String(segment)];
      return child === undefined ? [] : [child];
    }
    case 'record':
      return def.valueType === undefined ? [] : [def.valueType];
    case 'array':
      return def.element === undefined ? [] : [def.element];
    case 'pipe':
      return def.in === undefined ? [] : step(def.in, segment, depth + 1);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType === undefined ? [] : step(def.innerType, segment, depth + 1);
    case 'lazy':
      return def.getter === undefined ? [] : step(def.getter(), segment, depth + 1);
    case 'union':
      return (def.options ?? []).flatMap((o) => step(o, segment, depth + 1));
    case 'intersection':
      return [def.left, def.right].flatMap((s) =>
        s === undefined ? [] : step(s, segment, depth + 1),
      );
    default:
      return [];
  }
}

/** Every key an object at `path` of a value checked by `root` may have. */
export function knownKeysAt(root: z.ZodType, path: readonly PropertyKey[]): Set<string> {
  let schemas = [root];
  for (const segment of path) schemas = schemas.flatMap((s) => step(s, segment));
  return new Set(schemas.flatMap(objectsOf).flatMap((def) => Object.keys(def.shape ?? {})));
}
