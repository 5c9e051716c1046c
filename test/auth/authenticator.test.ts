import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import {
  type AuthenticationResult,
  type Authenticator,
  createAuthenticator,
  describeAuthMode,
  isFailure,
  PROTECTED_MODE_MESSAGE,
} from '../../src/auth/authenticator.ts';
import { instanceOfBotSession, instanceOfResourceName } from '../../src/auth/method-permissions.ts';
import { isLoopbackHost, isLoopbackPeer } from '../../src/auth/peer-address.ts';
import { allows, type Identity, instanceCovered } from '../../src/auth/permissions.ts';

function withAuthorization(...values: string[]): Metadata {
  const metadata = new Metadata();
  for (const v of values) metadata.add('authorization', v);
  return metadata;
}

/** `authenticator`, whose answers for static tokens must be immediate (not promises). */
function synchronous(authenticator: Authenticator) {
  return {
    authenticate(metadata: Metadata, peer: string): AuthenticationResult {
      const result = authenticator.authenticate(metadata, peer);
      assert.ok(!(result instanceof Promise), 'answered asynchronously');
      return result;
    },
  };
}

function identity(result: AuthenticationResult): Identity {
  assert.ok(!isFailure(result), isFailure(result) ? result.failure : '');
  return result;
}

describe('static bearer tokens', () => {
  const auth = synchronous(
    createAuthenticator({
      anonymous: ['cas:read'],
      tokens: [
        { principal: 'ci', token: 'ci-secret', permissions: ['cas:write'], instances: [''] },
        {
          principal: 'hashed',
          sha256: createHash('sha256').update('hashed-secret').digest('hex'),
          permissions: ['ac:write'],
          instances: ['team-a'],
        },
      ],
    }),
  );
  const peer = '192.0.2.7:4000';

  it('a token declared by its sha256 digest authenticates with the token itself', () => {
    const who = identity(auth.authenticate(withAuthorization('Bearer hashed-secret'), peer));
    assert.equal(who.principal, 'hashed');
    assert.ok(who.authenticated);
    assert.ok(allows(who, 'ac:write', 'team-a/x'));
    assert.ok(!allows(who, 'ac:write', 'team-b'));
  });

  it('a plain token authenticates as its principal; the scheme is case-insensitive', () => {
    assert.equal(
      identity(auth.authenticate(withAuthorization('bearer ci-secret'), peer)).principal,
      'ci',
    );
  });

  it('the digest itself is not a token', () => {
    const digest = createHash('sha256').update('hashed-secret').digest('hex');
    assert.ok(isFailure(auth.authenticate(withAuthorization(`Bearer ${digest}`), peer)));
  });

  it('no header is anonymous, with the anonymous permissions', () => {
    const who = identity(auth.authenticate(new Metadata(), peer));
    assert.equal(who.principal, 'anonymous');
    assert.ok(!who.authenticated);
    assert.ok(allows(who, 'cas:read', 'any/instance'));
    assert.ok(!allows(who, 'cas:write', ''));
  });

  it('a wrong token, another scheme or two headers fail authentication', () => {
    for (const md of [
      withAuthorization('Bearer nope'),
      withAuthorization('Basic Y2k6Y2ktc2VjcmV0'),
      withAuthorization('Bearer ci-secret', 'Bearer ci-secret'),
      withAuthorization('Bearer'),
    ]) {
      assert.ok(isFailure(auth.authenticate(md, peer)));
    }
  });

  it('loopback callers get no special treatment once auth is configured', () => {
    assert.equal(
      identity(auth.authenticate(new Metadata(), '127.0.0.1:5000')).principal,
      'anonymous',
    );
  });
});

describe('protected mode (no auth section)', () => {
  const auth = synchronous(createAuthenticator(undefined));

  it('lets loopback callers do everything', () => {
    for (const peer of ['127.0.0.1:4000', '127.8.9.10:1', '::1:4000', '::ffff:127.0.0.1:4000']) {
      const who = identity(auth.authenticate(new Metadata(), peer));
      assert.ok(allows(who, 'admin', 'any'), peer);
      assert.ok(allows(who, 'worker', ''), peer);
    }
  });

  it('refuses every other caller, telling how to configure authentication', () => {
    for (const peer of [
      '192.0.2.2:4000',
      '10.0.0.1:1',
      'fd00::2:4000',
      '::ffff:10.0.0.1:1',
      'unknown',
    ]) {
      const result = auth.authenticate(withAuthorization('Bearer anything'), peer);
      assert.ok(isFailure(result), peer);
      assert.equal(result.failure, PROTECTED_MODE_MESSAGE);
      assert.match(result.failure, /auth\.tokens/);
    }
  });

  it('classifies listen hosts', () => {
    assert.ok(
      isLoopbackHost('127.0.0.1') && isLoopbackHost('[::1]') && isLoopbackHost('localhost'),
    );
    assert.ok(
      !isLoopbackHost('0.0.0.0') && !isLoopbackHost('[::]') && !isLoopbackHost('192.0.2.2'),
    );
    assert.ok(isLoopbackPeer('0:0:0:0:0:0:0:1:9') && !isLoopbackPeer('::11:9'));
  });

  it('says which mode Kiln is in', () => {
    assert.match(describeAuthMode(undefined, '127.0.0.1'), /^Protected mode/);
    assert.match(describeAuthMode(undefined, '0.0.0.0'), /refused until auth\.tokens/);
    assert.match(
      describeAuthMode({ anonymous: ['cas:read'], tokens: [] }, '0.0.0.0'),
      /^Authentication on: 0 tokens; callers without a token may: cas:read/,
    );
  });
});

describe('instance names', () => {
  it('prefixes match per path segment; "" is every instance', () => {
    assert.ok(instanceCovered('', 'anything/at/all'));
    assert.ok(instanceCovered('team-a', 'team-a'));
    assert.ok(instanceCovered('team-a', 'team-a/linux'));
    assert.ok(!instanceCovered('team-a', 'team-ab'));
    assert.ok(!instanceCovered('team-a/linux', 'team-a'));
    assert.ok(!instanceCovered('team-a', ''));
  });

  it('are read from ByteStream resource names and bot session names', () => {
    assert.equal(instanceOfResourceName('a/b/blobs/abc/1'), 'a/b');
    assert.equal(instanceOfResourceName('blobs/abc/1'), '');
    assert.equal(instanceOfResourceName('x/uploads/u/blobs/abc/1'), 'x');
    assert.equal(instanceOfResourceName('x/compressed-blobs/zstd/abc/1'), 'x');
    assert.equal(instanceOfResourceName('garbage'), '');
    assert.equal(instanceOfBotSession('team-a/botSessions/123'), 'team-a');
    assert.equal(instanceOfBotSession('botSessions/123'), '');
  });
});
