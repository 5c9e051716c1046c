import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  formatAge,
  formatBytes,
  formatDuration,
  formatPercent,
  formatTime,
  timestampMs,
} from '../../src/ui/format.ts';

test('sizes are shown in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(64 * 1024 * 1024), '64 MiB');
  assert.equal(formatBytes(5.25 * 1024 ** 3), '5.3 GiB');
});

test('durations pick a readable unit', () => {
  assert.equal(formatDuration(undefined), '—');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(6000), '6.00 s');
  assert.equal(formatDuration(12_345), '12.3 s');
  assert.equal(formatDuration(245_000), '4 min 5 s');
  assert.equal(formatDuration(2 * 3_600_000 + 180_000), '2 h 3 min');
  assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), '3 d 4 h');
});

test('times are UTC and ages relative to now', () => {
  assert.equal(formatTime(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), '2024-01-02 03:04:05.006 UTC');
  const now = Date.UTC(2024, 0, 1);
  assert.equal(formatAge(now, now - 300), 'just now');
  assert.equal(formatAge(now, now - 5_500), '5 s ago');
  assert.equal(formatAge(now, now - 125_000), '2 min 5 s ago');
  assert.equal(formatAge(now, now + 4_000), 'in 4 s');
});

test('percentages and timestamps', () => {
  assert.equal(formatPercent(3, 4), '75%');
  assert.equal(formatPercent(1, 3), '33.3%');
  assert.equal(formatPercent(0, 0), '—');
  assert.equal(timestampMs({ seconds: 2, nanos: 500_000_000 }), 2500);
  assert.equal(timestampMs({ seconds: 0, nanos: 0 }), undefined);
});
