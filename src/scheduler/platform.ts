/**
 * Platform properties: what an action requires and what a worker offers.
 * Matching is exact: a worker can run an action when it advertises every
 * required (name, value) pair. A worker may advertise several values for one
 * name (say `OSFamily=linux` and `OSFamily=Linux`, or two container images).
 */
import type { Action, Command } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

/** One (name, value) pair, as in `build.bazel.remote.execution.v2.Platform.Property`. */
export interface PlatformProperty {
  readonly name: string;
  readonly value: string;
}

/** The set of pairs a worker offers, prepared for fast matching by {@link offeredSet}. */
export type OfferedPlatform = ReadonlySet<string>;

const pair = (p: PlatformProperty): string => `${p.name}\u0000${p.value}`;

/**
 * Sorts by name then value and drops duplicate pairs, so equal requirements
 * compare and print equally however the client ordered them.
 */
export function normalizePlatform(props: readonly PlatformProperty[]): PlatformProperty[] {
  const unique = new Map<string, PlatformProperty>();
  for (const p of props) unique.set(pair(p), { name: p.name, value: p.value });
  return [...unique.values()].sort((a, b) =>
    a.name === b.name ? compare(a.value, b.value) : compare(a.name, b.name),
  );
}

/**
 * The platform an action requires: `Action.platform`, or the deprecated
 * `Command.platform` when the action carries none (an action platform with no
 * properties counts as none, because clients older than REAPI 2.2 only set the
 * command's).
 */
export function requiredPlatform(action: Action, command: Command): PlatformProperty[] {
  const fromAction = action.platform?.properties ?? [];
  return normalizePlatform(
    fromAction.length > 0 ? fromAction : (command.platform?.properties ?? []),
  );
}

/** A stable string for a normalized platform, to group queued actions by platform. */
export function platformKey(props: readonly PlatformProperty[]): string {
  return props.map(pair).join('\u0001');
}

/** Prepares a worker's advertised properties for {@link satisfies}. */
export function offeredSet(props: readonly PlatformProperty[]): OfferedPlatform {
  return new Set(props.map(pair));
}

/**
 * A normalized required platform prepared for matching: its key (one queue
 * per distinct key) and its pairs in the form {@link OfferedPlatform} holds.
 */
export interface Requirement {
  readonly key: string;
  readonly pairs: readonly string[];
}

/** The {@link Requirement} of a normalized platform. */
export function requirementOf(props: readonly PlatformProperty[]): Requirement {
  const pairs = props.map(pair);
  return { key: pairs.join('\u0001'), pairs };
}

/** True when `offered` holds every pair of `required`; allocates nothing. */
export function meets(offered: OfferedPlatform, required: Requirement): boolean {
  for (const p of required.pairs) if (!offered.has(p)) return false;
  return true;
}

/** True when the worker offers every required pair. An empty requirement matches any worker. */
export function satisfies(
  offered: OfferedPlatform,
  required: readonly PlatformProperty[],
): boolean {
  return required.every((p) => offered.has(pair(p)));
}

/** `{OSFamily=linux, arch=x86_64}`, for messages; `{}` when empty. */
export function formatPlatform(props: readonly PlatformProperty[]): string {
  return `{${normalizePlatform(props)
    .map((p) => `${p.name}=${p.value}`)
    .join(', ')}}`;
}

/** What the unschedulable message needs to know about each connected worker. */
export interface WorkerOffer {
  readonly name: string;
  readonly platform: readonly PlatformProperty[];
}

const NAMES_PER_OFFER = 3;

/**
 * Explains why no worker can run an action: the required platform, then each
 * distinct platform connected workers offer (with a few worker names), so the
 * user can see which property is off.
 */
export function describeUnschedulable(
  required: readonly PlatformProperty[],
  workers: readonly WorkerOffer[],
): string {
  const byOffer = new Map<string, PlatformOffer & { names: string[]; count: number }>();
  for (const w of workers) {
    const offer = formatPlatform(w.platform);
    let group = byOffer.get(offer);
    if (group === undefined) {
      group = { platform: w.platform, names: [], count: 0 };
      byOffer.set(offer, group);
    }
    if (group.names.length < NAMES_PER_OFFER) group.names.push(w.name);
    group.count++;
  }
  return describeUnschedulableOffers(required, [...byOffer.values()]);
}

/** The workers offering one distinct platform: a few of their names and how many they are. */
export interface PlatformOffer {
  readonly platform: readonly PlatformProperty[];
  /** Some of their names (the message shows up to three). */
  readonly names: readonly string[];
  readonly count: number;
}

/** {@link describeUnschedulable} from workers already grouped by platform (one entry per distinct platform). */
export function describeUnschedulableOffers(
  required: readonly PlatformProperty[],
  offers: readonly PlatformOffer[],
): string {
  const head = `no connected worker can run this action: it requires platform ${formatPlatform(required)}`;
  if (offers.length === 0) return `${head}; no workers are connected`;
  const lines = offers.map(({ platform, names, count }) => {
    const shown = names.slice(0, NAMES_PER_OFFER);
    const more = count > shown.length ? ` and ${count - shown.length} more` : '';
    return `${formatPlatform(platform)} (${shown.join(', ')}${more})`;
  });
  return `${head}; connected workers offer: ${lines.join('; ')}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
