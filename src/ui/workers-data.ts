/**
 * The fleet as the web UI shows it: each worker's activity (idle, busy or
 * lost), counts per platform, and one filtered page of the worker list. It
 * works on the scheduler's worker listing in one pass, so a page of a
 * 20,000-worker fleet costs a few milliseconds and renders only its rows.
 */
import { invalidArgument } from '../errors.ts';
import type { PlatformProperty, WorkerState } from '../scheduler/types.ts';

/** What a worker is doing, as far as the scheduler knows. */
export type WorkerActivity = 'idle' | 'busy' | 'lost';

export const ACTIVITIES: readonly WorkerActivity[] = ['idle', 'busy', 'lost'];

/**
 * Silence after which a worker shows as lost. A connected worker calls the
 * scheduler at least once per long poll (28 s by default); the scheduler
 * drops it after `execution.workerTimeout` (60 s by default), and it then
 * leaves the list.
 */
export const WORKER_LOST_AFTER_MS = 45_000;

/** Rows per page of the worker list. */
export const WORKERS_PAGE_SIZE = 100;

/** The worker list's filters, as they arrive in the query string. */
export interface WorkersFilter {
  /** `K=V[,K=V…]`: workers offering at least these properties. */
  readonly platform?: string;
  /** idle, busy or lost. */
  readonly state?: string;
  /** A substring of the name or id, any case. */
  readonly name?: string;
  /** 1-based page number. */
  readonly page?: string;
}

/** Workers of one platform (the exact set of properties they offer). */
export interface PlatformFleet {
  readonly platform: readonly PlatformProperty[];
  readonly workers: number;
  readonly idle: number;
  readonly busy: number;
  readonly lost: number;
  /** Leases held and capacity, summed over the workers. */
  readonly leases: number;
  readonly capacity: number;
}

/** One page of the filtered worker list, and the fleet around it. */
export interface WorkersView {
  /** Connected workers, before filtering. */
  readonly total: number;
  /** Workers that pass the filters. */
  readonly matching: number;
  /** The page shown, 1-based, and the number of pages (at least 1). */
  readonly page: number;
  readonly pages: number;
  readonly rows: readonly WorkerState[];
  /** The whole fleet by platform, largest first. */
  readonly platforms: readonly PlatformFleet[];
}

/** Idle, busy or lost at `nowMs`: lost wins over busy (its leases are in doubt). */
export function activityOf(
  worker: WorkerState,
  nowMs: number,
  lostAfterMs = WORKER_LOST_AFTER_MS,
): WorkerActivity {
  if (nowMs - worker.lastSeenMs > lostAfterMs) return 'lost';
  return worker.leaseIds.length > 0 ? 'busy' : 'idle';
}

/**
 * Labels already made, by platform array: the scheduler hands out the same
 * array for a worker on every listing, so a fleet's labels are built once.
 */
const labels = new WeakMap<readonly PlatformProperty[], string>();

/** `OSFamily=linux, ISA=x86-64`: the key a platform is grouped and filtered by. */
export function platformLabel(platform: readonly PlatformProperty[]): string {
  let label = labels.get(platform);
  if (label === undefined) {
    label = platform.map((p) => `${p.name}=${p.value}`).join(', ');
    labels.set(platform, label);
  }
  return label;
}

/** Whether `platform` holds every property of `wanted`. */
function offersAll(
  platform: readonly PlatformProperty[],
  wanted: readonly PlatformProperty[],
): boolean {
  return wanted.every((w) => platform.some((p) => p.name === w.name && p.value === w.value));
}

/** Parses `K=V[,K=V…]`; INVALID_ARGUMENT for a part without `=`. */
function parsePlatformFilter(text: string): PlatformProperty[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq <= 0) {
        throw invalidArgument(`platform filter "${part}" must look like NAME=VALUE`);
      }
      return { name: part.slice(0, eq).trim(), value: part.slice(eq + 1).trim() };
    });
}

/** The whole fleet grouped by platform, largest group first. */
export function fleetByPlatform(
  workers: readonly WorkerState[],
  nowMs: number,
  lostAfterMs = WORKER_LOST_AFTER_MS,
): PlatformFleet[] {
  type Mutable = { -readonly [K in keyof PlatformFleet]: PlatformFleet[K] };
  const groups = new Map<string, Mutable>();
  for (const w of workers) {
    const key = platformLabel(w.platform);
    let g = groups.get(key);
    if (g === undefined) {
      g = { platform: w.platform, workers: 0, idle: 0, busy: 0, lost: 0, leases: 0, capacity: 0 };
      groups.set(key, g);
    }
    g.workers++;
    g[activityOf(w, nowMs, lostAfterMs)]++;
    g.leases += w.leaseIds.length;
    g.capacity += w.capacity;
  }
  return [...groups.values()].sort(
    (a, b) =>
      b.workers - a.workers || platformLabel(a.platform).localeCompare(platformLabel(b.platform)),
  );
}

/** Applies the filters and cuts out one page; INVALID_ARGUMENT for a bad state, platform or page. */
export function selectWorkers(
  workers: readonly WorkerState[],
  filter: WorkersFilter,
  nowMs: number,
  options: { readonly pageSize?: number; readonly lostAfterMs?: number } = {},
): WorkersView {
  const pageSize = options.pageSize ?? WORKERS_PAGE_SIZE;
  const lostAfterMs = options.lostAfterMs ?? WORKER_LOST_AFTER_MS;
  const state = filter.state?.toLowerCase() ?? '';
  if (state !== '' && !ACTIVITIES.includes(state as WorkerActivity)) {
    throw invalidArgument(`unknown state "${filter.state}"; expected ${ACTIVITIES.join(', ')}`);
  }
  const page = filter.page === undefined || filter.page === '' ? 1 : Number(filter.page);
  if (!Number.isSafeInteger(page) || page < 1) {
    throw invalidArgument(`page "${filter.page}" must be a positive integer`);
  }
  const wanted = parsePlatformFilter(filter.platform ?? '');
  const name = filter.name?.trim().toLowerCase() ?? '';
  const first = (page - 1) * pageSize;
  const rows: WorkerState[] = [];
  let matching = 0;
  for (const w of workers) {
    if (state !== '' && activityOf(w, nowMs, lostAfterMs) !== state) continue;
    if (name !== '' && !w.name.toLowerCase().includes(name) && !w.id.toLowerCase().includes(name)) {
      continue;
    }
    if (wanted.length > 0 && !offersAll(w.platform, wanted)) continue;
    if (matching >= first && rows.length < pageSize) rows.push(w);
    matching++;
  }
  return {
    total: workers.length,
    matching,
    page,
    pages: Math.max(1, Math.ceil(matching / pageSize)),
    rows,
    platforms: fleetByPlatform(workers, nowMs, lostAfterMs),
  };
}
