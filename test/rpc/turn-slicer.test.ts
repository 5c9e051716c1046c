// The turn slicer: heavy calls start at once while the turn has time, then
// wait in arrival order and start a slice's worth per loop iteration, so
// that the loop polls other sockets between.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { Metadata, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { serverStreaming, unary } from '../../src/rpc/rpc.ts';
import { SLICE_MS, type SlicerClock, TurnSlicer, turnSlicer } from '../../src/rpc/turn-slicer.ts';
import { silentLogger } from '../../src/util/logger.ts';

/** A clock whose time moves only when told, and whose deferred callbacks run a loop iteration at a time. */
class FakeLoop implements SlicerClock {
  time = 0;
  #deferred: (() => void)[] = [];

  now(): number {
    return this.time;
  }

  defer(fn: () => void): void {
    this.#deferred.push(fn);
  }

  /** Runs the callbacks deferred before this iteration (as a check phase); answers how many. */
  iterate(): number {
    const due = this.#deferred;
    this.#deferred = [];
    // Like the loop's immediates: one that throws does not stop the others.
    let failure: unknown;
    for (const fn of due) {
      try {
        fn();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
    return due.length;
  }

  get pending(): number {
    return this.#deferred.length;
  }
}

/** A start that takes `ms` of the fake loop's time and records its name. */
function work(loop: FakeLoop, log: string[], name: string, ms: number): () => void {
  return () => {
    log.push(name);
    loop.time += ms;
  };
}

describe('turn slicer', () => {
  it('starts calls at once while the turn has time and nothing waits', () => {
    const loop = new FakeLoop();
    const slicer = new TurnSlicer(loop, 5);
    const log: string[] = [];
    for (let i = 0; i < 4; i++) slicer.run(work(loop, log, `a${i}`, 1));
    assert.deepEqual(log, ['a0', 'a1', 'a2', 'a3']);
    assert.equal(slicer.queuedTotal, 0);
  });

  it('queues the calls past the slice and starts them in arrival order, a slice per iteration', () => {
    const loop = new FakeLoop();
    const slicer = new TurnSlicer(loop, 5);
    const log: string[] = [];
    // One socket read of 20 calls of 1 ms each: 5 fit in the turn.
    for (let i = 0; i < 20; i++) slicer.run(work(loop, log, `c${i}`, 1));
    assert.deepEqual(log, ['c0', 'c1', 'c2', 'c3', 'c4']);
    assert.equal(slicer.waiting, 15);
    const perIteration: number[] = [];
    while (slicer.waiting > 0 && perIteration.length < 20) {
      const before = log.length;
      loop.iterate();
      perIteration.push(log.length - before);
    }
    assert.deepEqual(
      log,
      Array.from({ length: 20 }, (_, i) => `c${i}`),
    );
    // A slice of 5 ms per iteration: 5 calls of 1 ms each.
    assert.deepEqual(perIteration, [5, 5, 5]);
  });

  it('puts a call behind those waiting even when the slice has time again', () => {
    const loop = new FakeLoop();
    const slicer = new TurnSlicer(loop, 5);
    const log: string[] = [];
    slicer.run(work(loop, log, 'long', 6));
    slicer.run(work(loop, log, 'queued', 1));
    loop.iterate(); // a new turn: the direct slice is reset...
    // ...but 'queued' was started in the drain of that iteration, before this arrival.
    slicer.run(work(loop, log, 'late', 1));
    assert.deepEqual(log, ['long', 'queued', 'late']);
    const slicer2 = new TurnSlicer(loop, 5);
    const log2: string[] = [];
    slicer2.run(work(loop, log2, 'long', 6));
    slicer2.run(work(loop, log2, 'first', 1));
    // Arrives before the queue drained: it waits behind 'first'.
    slicer2.run(work(loop, log2, 'second', 1));
    assert.deepEqual(log2, ['long']);
    loop.iterate();
    assert.deepEqual(log2, ['long', 'first', 'second']);
  });

  it('drains again when calls queue after the queue had emptied', () => {
    const loop = new FakeLoop();
    const slicer = new TurnSlicer(loop, 5);
    const log: string[] = [];
    for (let wave = 0; wave < 3; wave++) {
      slicer.run(work(loop, log, `long${wave}`, 6));
      slicer.run(work(loop, log, `queued${wave}`, 1));
      for (let i = 0; i < 5 && slicer.waiting > 0; i++) loop.iterate();
      assert.equal(slicer.waiting, 0, `wave ${wave} drained`);
      // The turn ends: the loop runs what is left deferred.
      while (loop.pending > 0) loop.iterate();
    }
    assert.deepEqual(log, ['long0', 'queued0', 'long1', 'queued1', 'long2', 'queued2']);
  });

  it('keeps draining after a start that throws', () => {
    const loop = new FakeLoop();
    const slicer = new TurnSlicer(loop, 5);
    const log: string[] = [];
    slicer.run(work(loop, log, 'long', 6));
    slicer.run(() => {
      throw new Error('boom');
    });
    slicer.run(work(loop, log, 'after', 1));
    assert.throws(() => loop.iterate(), /boom/);
    for (let i = 0; i < 10 && slicer.waiting > 0; i++) loop.iterate();
    assert.deepEqual(log, ['long', 'after']);
  });

  it('schedules a bounded number of callbacks per iteration, however long the queue', () => {
    const loop = new FakeLoop();
    const slicer = new TurnSlicer(loop, 5);
    const log: string[] = [];
    slicer.run(work(loop, log, 'long', 6));
    for (let i = 0; i < 10_000; i++) slicer.run(work(loop, log, `q${i}`, 0.001));
    // Not one callback per waiting call: a handful, renewed each iteration.
    assert.ok(loop.pending <= 17, `${loop.pending} callbacks deferred`);
    let iterations = 0;
    while (slicer.waiting > 0 && iterations++ < 10_000) loop.iterate();
    assert.equal(log.length, 10_001);
    // Cheap calls: the callbacks per iteration grow, so that the queue does
    // not drain a fixed few per iteration (10,000 would take 625 at 16).
    assert.ok(iterations <= 12, `${iterations} iterations`);
  });
});

/** The parts of a grpc-js call that the wrappers use. */
class FakeCall extends EventEmitter {
  cancelled = false;
  readonly request = {};
  readonly metadata = new Metadata();
  constructor() {
    super();
    // A server-streaming handler's failure is emitted as 'error'.
    this.on('error', () => {});
  }
  getDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }
  write(): boolean {
    return true;
  }
  end(): void {}
}

/** Keeps this turn busy for longer than a slice. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe('handlers started through the slicer', () => {
  it('a unary or server-streaming handler given the slicer starts in a later turn when this one is long', async () => {
    const started: string[] = [];
    const slicer = new TurnSlicer();
    const u = unary<object, object>(
      silentLogger(),
      'Test.Unary',
      async () => {
        started.push('unary');
        return {};
      },
      { slicer },
    );
    const s = serverStreaming<object, object>(
      silentLogger(),
      'Test.Stream',
      async () => {
        started.push('stream');
      },
      { slicer },
    );
    const direct = unary<object, object>(silentLogger(), 'Test.Light', async () => {
      started.push('light');
      return {};
    });
    u(new FakeCall() as unknown as ServerUnaryCall<object, object>, () => {});
    busy(SLICE_MS + 2);
    u(new FakeCall() as unknown as ServerUnaryCall<object, object>, () => {});
    s(new FakeCall() as unknown as ServerWritableStream<object, object>);
    direct(new FakeCall() as unknown as ServerUnaryCall<object, object>, () => {});
    // The first started at once, the light one too; the two after the long turn wait.
    assert.deepEqual(started, ['unary', 'light']);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, ['unary', 'light', 'unary', 'stream']);
  });

  it('Execute and the Bots methods start through the shared slicer', async () => {
    const { createExecutionService } = await import('../../src/services/execution-service.ts');
    const { createBotsService } = await import('../../src/services/bots-service.ts');
    const scheduler = new Proxy({}, { get: () => () => new Promise(() => {}) });
    const execution = createExecutionService({
      log: silentLogger(),
      cas: {} as never,
      scheduler: scheduler as never,
    });
    const bots = createBotsService({ log: silentLogger(), scheduler: scheduler as never });
    turnSlicer.run(() => {}); // opens this turn's slice, if nothing had
    busy(SLICE_MS + 2);
    const before = turnSlicer.queuedTotal;
    execution.execute(new FakeCall() as never);
    bots.createBotSession(new FakeCall() as never, () => {});
    bots.updateBotSession(new FakeCall() as never, () => {});
    assert.equal(turnSlicer.queuedTotal - before, 3);
    await new Promise((resolve) => setImmediate(resolve));
  });
});
