/** `--since` takes an RFC 3339 time or a duration back from now, and says what it wants otherwise. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration, parseTimeArg } from '../../src/cli/time-arg.ts';

test('durations back from now, in any combination of units', () => {
  const now = 10_000_000_000;
  assert.equal(parseTimeArg('90s', '--since', now), now - 90_000);
  assert.equal(parseTimeArg('2h', '--since', now), now - 7_200_000);
  assert.equal(parseTimeArg('1d12h', '--since', now), now - 129_600_000);
  assert.equal(parseDuration('1w'), 604_800_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2x'), undefined);
});

test('RFC 3339 times with a zone', () => {
  assert.equal(parseTimeArg('2026-12-06T10:00:00Z', '--since'), Date.UTC(2026, 11, 6, 10));
  assert.equal(
    parseTimeArg('2026-12-06T12:00:00.5+02:00', '--since'),
    Date.UTC(2026, 11, 6, 10, 0, 0, 500),
  );
});

test('anything else is a usage error that shows both forms', () => {
  for (const bad of ['yesterday', '2026-12-06', '2026-12-06T10:00:00', '-2h', '']) {
    assert.throws(
      () => parseTimeArg(bad, '--since'),
      (err: Error) =>
        err.name === 'UsageError' &&
        /--since .* is neither an RFC 3339 time \(2026-12-06T10:00:00Z\) nor a duration/.test(
          err.message,
        ),
      bad,
    );
  }
});
