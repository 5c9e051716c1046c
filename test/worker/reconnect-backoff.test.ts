// The reconnection schedule of `kiln worker`: delays that grow, stop at the
// cap, and are jittered so that workers cut off together do not retry together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReconnectBackoff } from '../../src/worker/reconnect-backoff.ts';

/** A deterministic source of numbers in [0, 1) (a linear congruential generator). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test('the bound doubles from the base and stops at the cap', () => {
  const b = new ReconnectBackoff({ baseMs: 100, capMs: 5000, random: () => 0.999999 });
  const delays = Array.from({ length: 10 }, () => b.next());
  // Just under each bound: 100, 200, 400, … then the cap.
  assert.deepEqual(delays, [99, 199, 399, 799, 1599, 3199, 4999, 4999, 4999, 4999]);
  assert.equal(b.attempts, 10);
  assert.equal(b.boundMs(1000), 5000, 'a long outage stays at the cap');
});

test('every delay is drawn from zero up to its bound (full jitter)', () => {
  const draws = [0, 0.5, 0.25];
  let i = 0;
  const b = new ReconnectBackoff({ baseMs: 100, capMs: 5000, random: () => draws[i++ % 3] ?? 0 });
  assert.deepEqual([b.next(), b.next(), b.next()], [0, 100, 100]);
});

test('workers cut off together spread their retries over the window', () => {
  // 1,000 workers lose the server at the same instant; each has its own random source.
  const workers = Array.from(
    { length: 1000 },
    (_, n) => new ReconnectBackoff({ baseMs: 100, capMs: 5000, random: seeded(n + 1) }),
  );
  const at = workers.map(() => 0);
  for (let attempt = 0; attempt < 8; attempt++) {
    workers.forEach((w, n) => {
      at[n] = (at[n] as number) + w.next();
    });
  }
  // The eighth retries: spread over seconds, not one instant.
  const sorted = [...at].sort((a, b) => a - b);
  const distinct = new Set(at).size;
  assert.ok(distinct > 900, `${distinct} distinct retry times of 1000`);
  const p10 = sorted[100] as number;
  const p90 = sorted[900] as number;
  assert.ok(p90 - p10 > 2000, `the middle 80% spans ${p90 - p10} ms`);
  // Never more than the sum of the bounds: 100+200+…+3200+5000+5000 ms.
  assert.ok((sorted.at(-1) as number) <= 16_300);
  // In any 100 ms window, at most a small share of the fleet retries.
  const perWindow = new Map<number, number>();
  for (const t of at)
    perWindow.set(Math.floor(t / 100), (perWindow.get(Math.floor(t / 100)) ?? 0) + 1);
  assert.ok(
    Math.max(...perWindow.values()) < 60,
    `busiest 100 ms: ${Math.max(...perWindow.values())}`,
  );
});

test('a reset starts the next outage from the base again', () => {
  const b = new ReconnectBackoff({ baseMs: 100, capMs: 5000, random: () => 0.5 });
  for (let i = 0; i < 6; i++) b.next();
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 50);
});

test('a base above the cap is refused with a clear message', () => {
  assert.throws(
    () => new ReconnectBackoff({ baseMs: 1000, capMs: 10 }),
    /base 1000 ms .* cap 10 ms/,
  );
});
