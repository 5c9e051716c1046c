/**
 * Validation of REAPI instance names. They are free-form paths, but REAPI
 * reserves some segments so that ByteStream resource names stay unambiguous.
 */
import { invalidArgument, quote } from '../errors.ts';

const RESERVED = new Set([
  'blobs',
  'uploads',
  'actions',
  'actionResults',
  'operations',
  'capabilities',
  'compressed-blobs',
]);

/** Throws INVALID_ARGUMENT unless `name` is a usable instance name ('' is the default instance). */
export function validateInstanceName(name: string): string {
  if (name === '') return name;
  if (name.startsWith('/') || name.endsWith('/')) {
    throw invalidArgument(`instance name ${quote(name)} must not start or end with "/"`);
  }
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw invalidArgument(`instance name ${quote(name)} has an empty, "." or ".." segment`);
    }
    if (RESERVED.has(segment)) {
      throw invalidArgument(
        `instance name ${quote(name)} uses the reserved segment "${segment}"; REAPI reserves ${[...RESERVED].join(', ')}`,
      );
    }
  }
  return name;
}
