/**
 * Many deadlines on one timer. Long-polls (tens of thousands of them with a
 * large fleet) each need to end at a deadline, but a timer per poll costs a
 * Node `Timeout`, its closure and its handle on the heap for the whole wait,
 * and an insertion into Node's timer lists per poll. Here entries with the
 * same due time share a slot (a linked list, so an entry leaves in O(1)),
 * the slots' due times sit in a binary heap, and a single clock timer is
 * armed for the earliest slot.
 */
import type { Clock, TimerHandle } from './clock.ts';

/**
 * The fields an entry carries for its list (intrusive, so adding an entry
 * allocates nothing of its own). Only {@link DeadlineList} sets them.
 */
export interface DeadlineEntry {
  /** The slot it waits in; undefined when not in a list. */
  deadlineSlot: DeadlineSlot<this> | undefined;
  deadlinePrev: this | undefined;
  deadlineNext: this | undefined;
}

/** Entries due at one time, in the order they were added. */
export interface DeadlineSlot<T> {
  readonly dueMs: number;
  head: T | undefined;
  tail: T | undefined;
}

/**
 * Entries that fall due at a time; at most one clock timer is pending
 * however many entries wait. An entry's callback runs once, at or after its
 * due time, unless it was removed first. Callers round due times to share
 * slots (see {@link roundDown}): the timer then fires once per slot, not
 * once per entry.
 */
export class DeadlineList<T extends DeadlineEntry> {
  readonly #clock: Clock;
  readonly #onDue: (entry: T) => void;
  /**
   * Slots by due time, one per entry of {@link #heap}. A slot that empties
   * stays until its time comes (an entry added for that time reuses it), so
   * the heap never holds a time twice and never grows past the distinct due
   * times of the waiting period.
   */
  readonly #slots = new Map<number, DeadlineSlot<T>>();
  /** A min-heap of the slots' due times. */
  readonly #heap: number[] = [];
  #timer: TimerHandle | undefined;
  /** Due time the timer is armed for. */
  #armedFor = Number.POSITIVE_INFINITY;
  #size = 0;

  /** `onDue` is called for each entry that falls due, after it left the list. */
  constructor(clock: Clock, onDue: (entry: T) => void) {
    this.#clock = clock;
    this.#onDue = onDue;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** Distinct due times held, including slots that emptied before their time (for tests). */
  get slots(): number {
    return this.#slots.size;
  }

  /** Adds `entry` (not in any list) to fall due at `dueMs` (clock milliseconds; NaN: now). */
  add(entry: T, at: number): void {
    // NaN would break the heap's order; a timer would have fired it at once.
    const dueMs = Number.isNaN(at) ? this.#clock.now() : at;
    let slot = this.#slots.get(dueMs);
    if (slot === undefined) {
      slot = { dueMs, head: undefined, tail: undefined };
      this.#slots.set(dueMs, slot);
      heapPush(this.#heap, dueMs);
    }
    entry.deadlineSlot = slot;
    entry.deadlinePrev = slot.tail;
    entry.deadlineNext = undefined;
    if (slot.tail === undefined) slot.head = entry;
    else slot.tail.deadlineNext = entry;
    slot.tail = entry;
    this.#size++;
    if (dueMs < this.#armedFor) this.#arm(dueMs);
  }

  /** Takes `entry` out of its list; harmless when it is in none. */
  remove(entry: T): void {
    const slot = entry.deadlineSlot;
    if (slot === undefined) return;
    this.#unlink(entry, slot);
    if (this.#size === 0) this.#disarm();
  }

  /** Removes every entry without calling back, and stops the timer. */
  clear(): void {
    for (const slot of this.#slots.values()) {
      while (slot.head !== undefined) this.#unlink(slot.head, slot);
    }
    this.#disarm();
  }

  #unlink(entry: T, slot: DeadlineSlot<T>): void {
    const { deadlinePrev: prev, deadlineNext: next } = entry;
    if (prev === undefined) slot.head = next;
    else prev.deadlineNext = next;
    if (next === undefined) slot.tail = prev;
    else next.deadlinePrev = prev;
    entry.deadlineSlot = undefined;
    entry.deadlinePrev = undefined;
    entry.deadlineNext = undefined;
    this.#size--;
  }

  /** With no entry left: stops the timer and drops the empty slots. */
  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.#heap.length = 0;
    this.#slots.clear();
  }

  #arm(dueMs: number): void {
    this.#timer?.cancel();
    this.#armedFor = dueMs;
    this.#timer = this.#clock.setTimer(dueMs - this.#clock.now(), () => this.#fire());
  }

  /** Ends every slot that is due, then arms the timer for the next one. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    const heap = this.#heap;
    while (heap.length > 0 && (heap[0] as number) <= now) {
      const dueMs = heapPop(heap);
      const slot = this.#slots.get(dueMs) as DeadlineSlot<T>;
      this.#slots.delete(dueMs);
      // A callback may remove (or add) other entries, this slot's included.
      for (let entry = slot.head; entry !== undefined; entry = slot.head) {
        this.#unlink(entry, slot);
        this.#onDue(entry);
      }
    }
    if (this.#size === 0) this.#disarm();
    else if (heap.length > 0 && (heap[0] as number) < this.#armedFor) this.#arm(heap[0] as number);
  }
}

/** `ms` rounded down to a multiple of `step` (1 or less: unchanged). */
export function roundDown(ms: number, step: number): number {
  return step <= 1 ? ms : ms - (((ms % step) + step) % step);
}

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as number) <= value) break;
    heap[i] = heap[parent] as number;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0] as number;
  const last = heap.pop() as number;
  const n = heap.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && (heap[right] as number) < (heap[left] as number) ? right : left;
    if ((heap[child] as number) >= last) break;
    heap[i] = heap[child] as number;
    i = child;
  }
  heap[i] = last;
  return top;
}
