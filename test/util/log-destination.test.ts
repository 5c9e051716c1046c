import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LogDestination } from '../../src/util/log-destination.ts';
import { NODE24, ROOT } from '../support/kiln-process.ts';

/** Resolves with the child's exit, or 'hung' after `ms`. */
function exitWithin(child: ReturnType<typeof spawn>, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('hung'), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(`exit ${code ?? signal}`);
    });
  });
}

describe('logging when the reader of stderr is gone', { timeout: 20_000 }, () => {
  it('a process that exits with logs queued for a closed stderr exits at once', async () => {
    const logger = join(ROOT, 'src', 'util', 'logger.ts');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ destination: 2 });
      process.stdin.once('data', () => {
        for (let i = 0; i < 100; i++) log.info({ i }, 'a line nobody reads');
        process.exit(3);
      });`;
    const child = spawn(NODE24, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    await new Promise((r) => setTimeout(r, 300));
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.stdin?.write('go\n');
    const result = await exitWithin(child, 5000);
    if (result === 'hung') child.kill('SIGKILL');
    assert.equal(result, 'exit 3');
  });

  it('drops logs after a write error other than EAGAIN, and flushSync does not wait', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-log-'));
    try {
      const fd = openSync(join(dir, 'log'), 'w');
      closeSync(fd);
      const dest = new LogDestination({ fd });
      dest.write('one\n');
      await new Promise<void>((resolve) => dest.flush(() => resolve()));
      assert.equal(dest.broken, true);
      dest.write('two\n');
      dest.flushSync();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes lines in order to a working descriptor', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-log-'));
    try {
      const path = join(dir, 'log');
      const fd = openSync(path, 'w');
      const dest = new LogDestination({ fd });
      const lines = Array.from({ length: 500 }, (_, i) => `line ${i}\n`);
      for (const line of lines) dest.write(line);
      await new Promise<void>((resolve) => dest.flush(() => resolve()));
      dest.end();
      closeSync(fd);
      assert.equal(readFileSync(path, 'utf8'), lines.join(''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
