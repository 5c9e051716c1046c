/**
 * The users actions run as under privilege separation. Each command that
 * runs at once gets a user of its own from a range of numeric ids, so that
 * no action can signal, trace or write into another (same-user processes
 * can), and every process of an action can be found and killed by its user
 * id when it ends. The ids need no entry in /etc/passwd (programs that look
 * up their own name, such as `whoami`, then find none: the same as in
 * containers run with an arbitrary user id).
 *
 * Spec strings, as `kiln worker --action-users` and
 * `execution.actionUsers` take them:
 * - `auto` (default): privilege separation when the worker runs as root,
 *   with users 59000 onwards (one per command slot) in group `nogroup`
 *   (65534); the worker's own user otherwise (see {@link resolveActionUsers}).
 * - `off`: actions run as the worker's user.
 * - `FIRST-LAST` or `FIRST-LAST:GID`: that range of user ids (and group);
 *   it must hold at least as many ids as commands run at once.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { endUserSync } from './kill-user.mjs';
import type { ActionUser } from './process-launcher.ts';

/** The first user id of the default range. */
export const DEFAULT_FIRST_UID = 59000;
/** `nogroup` on Debian. */
export const DEFAULT_GID = 65534;

/** A parsed spec: off, automatic, or an explicit range. */
export type ActionUsersSpec =
  | { readonly kind: 'off' }
  | { readonly kind: 'auto' }
  | { readonly kind: 'range'; readonly first: number; readonly last: number; readonly gid: number };

/** Parses a spec string; throws an Error naming the problem. */
export function parseActionUsers(spec: string): ActionUsersSpec {
  const s = spec.trim();
  if (s === 'off' || s === 'none') return { kind: 'off' };
  if (s === 'auto' || s === '') return { kind: 'auto' };
  const m = /^(\d+)-(\d+)(?::(\d+))?$/.exec(s);
  if (m === null) {
    throw new Error(
      `action users "${spec}" must be auto, off, or a user id range FIRST-LAST[:GID]`,
    );
  }
  const first = Number(m[1]);
  const last = Number(m[2]);
  const gid = m[3] === undefined ? DEFAULT_GID : Number(m[3]);
  if (first < 1 || last < first || last >= 2 ** 32 - 1 || gid < 1 || gid >= 2 ** 32 - 1) {
    throw new Error(`action users "${spec}": ids must be 1 or more, FIRST no more than LAST`);
  }
  return { kind: 'range', first, last, gid };
}

/** What privilege separation will do, decided once at worker start. */
export type ActionUsersPlan =
  | { readonly enabled: false; readonly why: string }
  | { readonly enabled: true; readonly pool: ActionUserPool };

/**
 * Turns a spec into a plan for a worker running `slots` commands at once:
 * `auto` enables privilege separation only for a root worker; a range needs
 * root and at least `slots` ids. Ids that /etc/passwd gives to an account
 * are left out of the automatic range, so that no action ever runs as a
 * real user of the machine.
 */
export function resolveActionUsers(
  spec: ActionUsersSpec,
  slots: number,
  uid = process.getuid?.() ?? -1,
): ActionUsersPlan {
  if (spec.kind === 'off') {
    return { enabled: false, why: 'privilege separation is off (action users: off)' };
  }
  if (uid !== 0) {
    if (spec.kind === 'range') {
      throw new Error('running actions as other users (--action-users) needs a worker run as root');
    }
    return {
      enabled: false,
      why: 'the worker does not run as root, so actions run as its own user; changed cached inputs are detected and discarded',
    };
  }
  const ids: number[] = [];
  const claims = claimDirectory();
  if (spec.kind === 'range') {
    for (let id = spec.first; id <= spec.last && ids.length < slots; id++) {
      if (claim(claims, id)) ids.push(id);
    }
    if (ids.length < slots) {
      for (const id of ids) unclaim(claims, id);
      throw new Error(
        `action users ${spec.first}-${spec.last}: only ${ids.length} ids are free of other workers on this machine, fewer than the ${slots} commands run at once`,
      );
    }
    return {
      enabled: true,
      pool: new ActionUserPool(
        ids.map((u) => ({ uid: u, gid: spec.gid })),
        claims,
      ),
    };
  }
  const taken = accountIds();
  for (let id = DEFAULT_FIRST_UID; ids.length < slots && id < 2 ** 31; id++) {
    if (!taken.has(id) && claim(claims, id)) ids.push(id);
  }
  return {
    enabled: true,
    pool: new ActionUserPool(
      ids.map((u) => ({ uid: u, gid: DEFAULT_GID })),
      claims,
    ),
  };
}

/**
 * Where workers on one machine claim their action users, one file per user
 * id holding the claiming process's pid, so that two workers (say `kiln
 * serve`'s own and a `kiln worker`) never share a user: each kills every
 * process of its users after each action. Under /run, so a reboot clears it.
 */
function claimDirectory(): string {
  for (const base of ['/run', '/tmp']) {
    const dir = join(base, 'kiln-action-users');
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      return dir;
    } catch {
      // Try the next place.
    }
  }
  throw new Error('cannot create a directory to claim action users in /run or /tmp');
}

/** Claims `uid` for this process; false when a live process holds it. */
function claim(dir: string, uid: number): boolean {
  const path = join(dir, String(uid));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      // The user starts with no process: after each action only the pids made
      // since it started are looked at (see PidWindow in kill-user.mjs).
      endUserSync(uid);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(path, 'utf8').trim());
    if (holder === process.pid || isAlive(holder)) return false;
    // Left by a worker that is gone: take it over, with whatever its actions left
    // running (they are in no cgroup of this worker's).
    endUserSync(uid);
    try {
      unlinkSync(path);
    } catch {
      // Another worker took it over first.
    }
  }
  return false;
}

function unclaim(dir: string, uid: number): void {
  try {
    unlinkSync(join(dir, String(uid)));
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** User ids that /etc/passwd names (empty when it cannot be read). */
function accountIds(): Set<number> {
  try {
    const ids = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => Number(line.split(':')[2]))
      .filter((n) => Number.isInteger(n));
    return new Set(ids);
  } catch {
    return new Set();
  }
}

/** Hands out action users, one per running command; waits when all are taken. */
export class ActionUserPool {
  readonly #free: ActionUser[];
  readonly #all: readonly ActionUser[];
  readonly #waiting: Array<(user: ActionUser) => void> = [];
  readonly #claims: string | undefined;
  #leftoversKilled = 0;
  #killFallbacks = 0;
  #tempRemoved = 0;

  /** `claims`: the directory where these users are claimed, released by {@link close}. */
  constructor(users: readonly ActionUser[], claims?: string) {
    if (users.length === 0) throw new RangeError('an action user pool needs at least one user');
    this.#all = users;
    this.#free = [...users];
    this.#claims = claims;
  }

  /** Processes actions left running that were killed after them, since start. */
  get leftoversKilled(): number {
    return this.#leftoversKilled;
  }

  /** Counts processes killed after an action ended (see {@link leftoversKilled}). */
  countKilled(n: number): void {
    this.#leftoversKilled += n;
  }

  /** Entries action users left at the top of the shared temporary directories, removed after them. */
  get tempEntriesRemoved(): number {
    return this.#tempRemoved;
  }

  /** Counts entries removed from the shared temporary directories (see {@link tempEntriesRemoved}). */
  countTempRemoved(n: number): void {
    this.#tempRemoved += n;
  }

  /** Times the kernel's kill of all of a user's processes could not be used (see kill-user.mjs). */
  get killFallbacks(): number {
    return this.#killFallbacks;
  }

  /** Counts one {@link killFallbacks}. */
  countKillFallback(): void {
    this.#killFallbacks++;
  }

  /** Gives the users back to the machine (other workers may claim them). */
  close(): void {
    const dir = this.#claims;
    if (dir !== undefined) for (const u of this.#all) unclaim(dir, u.uid);
  }

  /** Every user of the pool. */
  get users(): readonly ActionUser[] {
    return this.#all;
  }

  /** A user no running command has; waits for one when all are taken. */
  acquire(): Promise<ActionUser> {
    const user = this.#free.shift();
    if (user !== undefined) return Promise.resolve(user);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Returns a user whose processes are all gone. */
  release(user: ActionUser): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(user);
    else this.#free.push(user);
  }
}
