/** A directory tree as a sorted list of relative paths, for comparing trees in tests. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Every path under `root`, relative to it, sorted; directories end with '/'. Symlinks are not followed. */
export async function listing(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(`${path}/`, ...(await listing(root, path)));
    else out.push(path);
  }
  return out.sort();
}
