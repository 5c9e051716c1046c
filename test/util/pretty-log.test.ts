import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatLogLine } from '../../src/util/pretty-log.ts';
import { NODE24, ROOT } from '../support/kiln-process.ts';

describe('pretty log lines', () => {
  it('puts time, level and message first, then the build ids, then other fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: '2026-12-07T02:12:10.730Z',
      service: 'kiln',
      pid: 7,
      hostname: 'h',
      bytes: 12,
      actionId: 'ab12',
      msg: 'slow read',
      invocation: 'inv-1',
      method: 'Read',
      where: 'a b',
      platform: [{ name: 'OSFamily', value: 'Linux' }],
    });
    assert.equal(
      formatLogLine(line, false),
      '02:12:10.730 WARN  slow read method=Read invocation=inv-1 actionId=ab12 bytes=12 ' +
        'where="a b" platform=[{"name":"OSFamily","value":"Linux"}]\n',
    );
    assert.ok(
      formatLogLine(line, true).startsWith(
        '\x1b[2m02:12:10.730\x1b[0m \x1b[33mWARN \x1b[0m slow read \x1b[2mmethod=\x1b[0mRead',
      ),
    );
  });

  it('shows an error message inline and its stack indented below', () => {
    const line = JSON.stringify({
      level: 50,
      time: '2026-12-07T02:12:10.730Z',
      msg: 'rpc failed',
      err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' },
    });
    assert.equal(
      formatLogLine(line, false),
      '02:12:10.730 ERROR rpc failed err=boom\n    Error: boom\n        at f (x.ts:1:1)\n',
    );
  });

  it('passes a line that is not a JSON object through', () => {
    assert.equal(formatLogLine('not json\n', false), 'not json\n');
  });

  it('a process with pretty logs queued for a closed stderr exits at once', async () => {
    const logger = join(ROOT, 'src', 'util', 'logger.ts');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ destination: 2, format: 'pretty' });
      process.stdin.once('data', () => {
        for (let i = 0; i < 100; i++) log.info({ i }, 'a line nobody reads');
        process.exit(3);
      });`;
    const child = spawn(NODE24, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    await new Promise((r) => setTimeout(r, 300));
    child.stdout.destroy();
    child.stderr.destroy();
    child.stdin.write('go\n');
    const result = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('hung'), 5000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(`exit ${code ?? signal}`);
      });
    });
    if (result === 'hung') child.kill('SIGKILL');
    assert.equal(result, 'exit 3');
  });
});
