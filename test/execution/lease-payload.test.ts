import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  type Assignment,
  packAssignment,
  packExecuteResponse,
  unpackAssignment,
  unpackExecuteResponse,
} from '../../src/execution/lease-payload.ts';
import {
  Command,
  ExecuteResponse,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { Any } from '../../src/gen/google/protobuf/any.js';

const assignment: Assignment = {
  instanceName: 'main',
  actionDigest: makeDigest(SHA256, 'a'.repeat(64), 142, 'test'),
  timeoutMs: 2500,
  action: undefined,
  command: Command.fromPartial({ arguments: ['/bin/true'], outputPaths: ['out'] }),
};

describe('lease payloads', () => {
  it('hands an assignment packed in this process back as it was, without a decode', () => {
    const any = packAssignment(assignment);
    assert.equal(unpackAssignment(any), assignment);
  });

  it('encodes an assignment when it crosses the wire, and decodes it on the other side', () => {
    const wire = Any.decode(Any.encode(packAssignment(assignment)).finish());
    const unpacked = unpackAssignment(wire);
    assert.notEqual(unpacked, assignment);
    assert.equal(unpacked.instanceName, 'main');
    assert.equal(unpacked.actionDigest.key, assignment.actionDigest.key);
    assert.equal(unpacked.timeoutMs, 2500);
    assert.deepEqual(unpacked.command?.arguments, ['/bin/true']);
    assert.deepEqual(unpacked.command?.outputPaths, ['out']);
  });

  it('carries the invocation id and the trace context across the wire; none stays none', () => {
    const traceparent = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    const traced = { ...assignment, toolInvocationId: 'build-7', traceparent };
    const unpacked = unpackAssignment(Any.decode(Any.encode(packAssignment(traced)).finish()));
    assert.equal(unpacked.toolInvocationId, 'build-7');
    assert.equal(unpacked.traceparent, traceparent);
    const plain = unpackAssignment(Any.decode(Any.encode(packAssignment(assignment)).finish()));
    assert.equal(plain.toolInvocationId, '');
    assert.equal(plain.traceparent, undefined);
  });

  it('does the same for an ExecuteResponse', () => {
    const response = ExecuteResponse.fromPartial({ cachedResult: false, message: 'ran' });
    const any = packExecuteResponse(response);
    assert.equal(unpackExecuteResponse(any), response);
    const wire = Any.decode(Any.encode(any).finish());
    assert.deepEqual(unpackExecuteResponse(wire), response);
  });

  it('refuses a payload of another type', () => {
    const other = { typeUrl: 'type.googleapis.com/some.Other', value: Buffer.alloc(0) };
    assert.throws(() => unpackAssignment(other), { message: /not an ActionAssignment/ });
    assert.equal(unpackExecuteResponse(other), undefined);
  });
});
