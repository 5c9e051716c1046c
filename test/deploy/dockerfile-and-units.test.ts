/**
 * The container image recipe and the systemd units of deploy/. Docker does
 * not run here, so the Dockerfile is read instruction by instruction (Node
 * 24 slim base, multi-stage, production dependencies only, a non-root user,
 * a HEALTHCHECK with `kiln health`), and the commands it and the units run
 * are run for real: their flags through the CLI, the health check against a
 * real `kiln serve`. The units pass `systemd-analyze verify`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { KILN_BIN, NODE24, ROOT, startKiln } from '../support/kiln-process.ts';

const DOCKERFILE = join(ROOT, 'deploy', 'Dockerfile');
const SYSTEMD = join(ROOT, 'deploy', 'systemd');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** The Dockerfile's instructions by stage, continuation lines joined, comments dropped. */
function dockerStages(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  for (const line of logical.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const instruction = {
      keyword: (match[1] as string).toUpperCase(),
      args: (match[2] as string).trim(),
    };
    if (instruction.keyword === 'FROM') stages.push([]);
    const stage = stages.at(-1);
    assert.ok(stage, `${instruction.keyword} before the first FROM`);
    stage.push(instruction);
  }
  return stages;
}

/** The JSON (exec) form of an instruction's arguments. */
function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  assert.ok(Array.isArray(parsed), `not the exec form: ${args}`);
  return parsed as string[];
}

/** Runs the kiln CLI with `args`; its exit code and output. */
function kiln(args: readonly string[]): { status: number | null; out: string } {
  const r = spawnSync(NODE24, [KILN_BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('deploy/Dockerfile', () => {
  const stages = dockerStages(readFileSync(DOCKERFILE, 'utf8'));
  const final = stages.at(-1) ?? [];
  const all = (keyword: string, stage = final) => stage.filter((i) => i.keyword === keyword);

  it('builds in stages from the official Node 24 slim image', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const stage of stages) {
      assert.match(stage[0]?.args ?? '', /^node:24-bookworm-slim(\s+AS\s+\S+)?$/i);
    }
  });

  it('installs production dependencies only, with npm ci, and no npm in the final stage', () => {
    const runs = stages.flatMap((s) => all('RUN', s)).map((i) => i.args);
    const installs = runs.filter((r) => /\bnpm\s+(ci|install|i)\b/.test(r));
    assert.ok(installs.length > 0);
    for (const run of installs) {
      assert.match(run, /\bnpm ci\b/, `not npm ci: ${run}`);
      assert.match(run, /--omit=dev\b/, `dev dependencies installed: ${run}`);
    }
    for (const run of all('RUN'))
      assert.doesNotMatch(run.args, /\bnpm\b/, 'npm runs in the final stage');
    assert.ok(
      all('COPY').some((c) => /^--from=\S+\s+\S*node_modules/.test(c.args)),
      'node_modules come from the build stage',
    );
  });

  it('runs as a user other than root, with the data on a volume and both ports exposed', () => {
    const users = all('USER');
    assert.ok(users.length > 0, 'no USER in the final stage');
    const user = (users.at(-1) as Instruction).args.split(':')[0];
    assert.ok(user !== 'root' && user !== '0', `runs as ${user}`);
    assert.deepEqual(execForm((all('VOLUME')[0] as Instruction).args), ['/var/lib/kiln']);
    assert.deepEqual(
      all('EXPOSE').flatMap((e) => e.args.split(/\s+/)),
      ['8980', '8981'],
    );
  });

  it('starts kiln serve on 0.0.0.0:8980 and 0.0.0.0:8981, with flags kiln accepts', () => {
    const entrypoint = execForm((all('ENTRYPOINT')[0] as Instruction).args);
    const cmd = execForm((all('CMD')[0] as Instruction).args);
    const command = [...entrypoint, ...cmd].join(' ');
    assert.match(
      command,
      /kiln serve --listen 0\.0\.0\.0:8980 --http-listen 0\.0\.0\.0:8981 --data-dir \/var\/lib\/kiln$/,
    );
    // Every flag is one `kiln serve` knows (it refuses unknown ones before --help).
    const r = kiln([...cmd, '--help']);
    assert.equal(r.status, 0, r.out);
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const must of ['.git', 'node_modules', 'kiln-data', 'test'])
      assert.ok(ignored.includes(must), must);
    const sources = stages
      .flatMap((s) => all('COPY', s))
      .filter((c) => !c.args.startsWith('--from='))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    assert.ok(sources.includes('src'));
    for (const source of sources) {
      assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: no such file`);
      assert.ok(!ignored.includes(source), `COPY ${source}, which .dockerignore leaves out`);
    }
  });

  it('HEALTHCHECK runs kiln health, which answers SERVING for a real kiln serve', async () => {
    const [check] = all('HEALTHCHECK');
    assert.ok(check, 'no HEALTHCHECK');
    const command = execForm(check.args.slice(check.args.indexOf('CMD') + 3).trim());
    assert.deepEqual(command.slice(0, 2), ['kiln', 'health']);
    const dir = await mkdtemp(join(tmpdir(), 'kiln-healthcheck-'));
    const server = await startKiln([
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      'off',
      '--data-dir',
      join(dir, 'data'),
    ]);
    try {
      const args = command.slice(1).map((a) => a.replace('127.0.0.1:8980', server.address));
      let r = kiln(args);
      // SERVING once the (empty) disk stores are indexed.
      for (let i = 0; i < 20 && r.status !== 0; i++) r = kiln(args);
      assert.equal(r.status, 0, r.out);
      assert.equal(r.out, 'SERVING\n');
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** `systemd-analyze verify` of `units` (paths), with /opt/kiln pointing at this checkout. */
async function verifyUnits(
  units: Record<string, string>,
): Promise<{ status: number | null; complaints: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-units-'));
  try {
    const paths: string[] = [];
    for (const [name, text] of Object.entries(units)) {
      const path = join(dir, name);
      await writeFile(path, text.replaceAll('/opt/kiln/', `${ROOT}/`));
      paths.push(path);
    }
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...paths], { encoding: 'utf8' });
    // Other units of this machine may draw warnings; only ours count.
    const complaints = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((line) => Object.keys(units).some((name) => line.includes(name)));
    return { status: r.status, complaints };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const UNITS = ['kiln.service', 'kiln-worker.service'];
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('deploy/systemd units', () => {
  const text = (name: string) => readFileSync(join(SYSTEMD, name), 'utf8');
  const directives = (name: string) =>
    new Map(
      text(name)
        .split('\n')
        .filter((l) => /^[A-Za-z]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );

  it('pass systemd-analyze verify, which catches a misspelt directive', {
    skip:
      !hasSystemdAnalyze && process.env.CI !== 'true'
        ? 'systemd-analyze is not installed (apt-get install systemd)'
        : false,
  }, async () => {
    assert.ok(
      hasSystemdAnalyze,
      'systemd-analyze is missing: .ci/run installs the systemd package',
    );
    const units = Object.fromEntries(UNITS.map((name) => [name, text(name)]));
    const clean = await verifyUnits(units);
    assert.deepEqual(clean.complaints, []);
    assert.equal(clean.status, 0);
    const typo = await verifyUnits({
      'kiln.service': text('kiln.service').replace('NoNewPrivileges=', 'NoNewPrivilges='),
    });
    assert.equal(typo.complaints.length, 1, 'the check sees a misspelt directive');
    assert.match(typo.complaints[0] ?? '', /Unknown key/);
  });

  it('kiln.service: unprivileged and hardened, without what V8 needs', () => {
    const d = directives('kiln.service');
    assert.equal(d.get('DynamicUser'), 'yes');
    assert.notEqual(d.get('User'), 'root');
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['CapabilityBoundingSet', ''],
      ['RestrictNamespaces', 'yes'],
      ['ProtectControlGroups', 'yes'],
      ['PrivateDevices', 'yes'],
    ]) {
      assert.equal(d.get(key as string), value, key);
    }
    assert.ok(!d.has('MemoryDenyWriteExecute'), "V8's JIT needs writable executable memory");
  });

  it('kiln-worker.service: root, with the hardening that leaves privilege separation working', () => {
    const d = directives('kiln-worker.service');
    for (const key of [
      'User',
      'DynamicUser',
      'CapabilityBoundingSet',
      'RestrictNamespaces',
      'PrivateUsers',
      'ProtectControlGroups',
      'RestrictSUIDSGID',
    ]) {
      assert.ok(!d.has(key), `${key} would stop actions running as other users or in the sandbox`);
    }
    assert.equal(d.get('Delegate'), 'yes', 'cgroups per action user');
    assert.equal(d.get('NoNewPrivileges'), 'yes');
    assert.equal(d.get('ProtectSystem'), 'strict');
  });

  it('run commands whose flags kiln accepts, with a configuration kiln loads', () => {
    for (const name of UNITS) {
      const exec = directives(name).get('ExecStart') ?? '';
      const [bin, ...args] = exec.split(/\s+/);
      assert.equal(bin, '/opt/kiln/bin/kiln.mjs');
      const r = kiln([...args, '--help']);
      assert.equal(r.status, 0, `${name}: ${r.out}`);
    }
    const config = parseConfigText(readFileSync(join(SYSTEMD, 'kiln.yaml'), 'utf8'), 'kiln.yaml');
    assert.equal(config.execution.localWorkers, 0, 'actions run on kiln-worker.service');
  });
});
