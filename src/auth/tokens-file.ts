/**
 * `auth.tokensFile`: a YAML or JSON list of token entries (shaped like
 * `auth.tokens`) added to the configuration's tokens and re-read when the
 * file changes, so tokens can be added and revoked without a restart. A
 * change that does not load (bad YAML, an unknown permission, a duplicate
 * token) is logged as an error and the previous tokens stay in force.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { duplicateTokens, type TokenConfig, tokenSchema } from '../config/auth-schema.ts';
import type { Logger } from '../util/logger.ts';
import { filesState, PolledFiles } from '../util/polled-files.ts';
import type { StaticTokens } from './static-tokens.ts';

const fileSchema = z.array(tokenSchema);

/** Options for {@link TokensFile.open}. */
export interface TokensFileOptions {
  readonly path: string;
  /** The tokens of `auth.tokens`, which the file's are added to. */
  readonly configured: readonly TokenConfig[];
  /** The table to fill with both. */
  readonly table: StaticTokens;
  readonly log: Logger;
  /** How often the file is checked for changes; 1 s by default. */
  readonly pollIntervalMs?: number;
}

/** Reads and checks the file; rejects with every problem, each naming where it is. */
export async function readTokensFile(
  path: string,
  configured: readonly TokenConfig[],
): Promise<TokenConfig[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `auth.tokensFile: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new Error(
      `auth.tokensFile: ${path} is not valid YAML or JSON: ${doc.errors[0]?.message}`,
    );
  }
  const parsed = fileSchema.safeParse(doc.toJS() ?? []);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) =>
        `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`,
    );
    throw new Error(
      `auth.tokensFile: ${path} is not a list of token entries like auth.tokens: ${problems.join('; ')}`,
    );
  }
  const all = [...configured, ...parsed.data];
  const name = (i: number): string =>
    i < configured.length ? `auth.tokens[${i}]` : `entry [${i - configured.length}]`;
  const duplicates = duplicateTokens(all, 'auth.tokens').map(
    (d) =>
      `${name(d.index)} has the same token as ${name(d.first)} (principal ${JSON.stringify(all[d.first]?.principal)})`,
  );
  if (duplicates.length > 0) {
    throw new Error(
      `auth.tokensFile: ${path} repeats a token (of auth.tokens or of the file itself): ${duplicates.join('; ')}`,
    );
  }
  return parsed.data;
}

/** The tokens file, loaded into a {@link StaticTokens} table and kept up to date. */
export class TokensFile {
  readonly #poller: PolledFiles;

  private constructor(poller: PolledFiles) {
    this.#poller = poller;
  }

  /** Loads the file (rejecting with a message naming the problem) and starts watching it. */
  static async open(options: TokensFileOptions): Promise<TokensFile> {
    const { path, configured, table, log } = options;
    const state = await filesState([path]).catch(() => 'unreadable');
    const fromFile = await readTokensFile(path, configured);
    table.replace([...configured, ...fromFile]);
    log.info({ tokensFile: path, tokens: fromFile.length }, 'tokens file loaded');
    const poller = new PolledFiles({
      paths: [path],
      intervalMs: options.pollIntervalMs ?? 1000,
      loadedState: state,
      reload: async () => {
        const next = await readTokensFile(path, configured);
        table.replace([...configured, ...next]);
        log.info({ tokensFile: path, tokens: next.length }, 'tokens file reloaded');
      },
      onError: (err) =>
        log.error(
          { err: err.message, tokensFile: path },
          'tokens file changed but does not load; the previous tokens stay in force',
        ),
    });
    return new TokensFile(poller);
  }

  /** Stops watching the file. */
  close(): void {
    this.#poller.close();
  }
}
