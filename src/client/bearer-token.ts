/**
 * The bearer token a client command or `kiln worker` sends: from
 * `--token-file FILE`, else from `KILN_TOKEN`; and a client interceptor that
 * sends it as `authorization: Bearer TOKEN` with every call.
 */
import { readFileSync } from 'node:fs';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';

/**
 * The token from `tokenFile` (its content, surrounding white space
 * trimmed) or else `env.KILN_TOKEN`; undefined when neither gives one.
 * Errors name the option and the file.
 */
export function readBearerToken(
  tokenFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  let token: string;
  if (tokenFile !== undefined) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new Error(`cannot read --token-file ${tokenFile}: ${why}`);
    }
    if (token === '') throw new Error(`--token-file ${tokenFile} is empty`);
  } else {
    token = env.KILN_TOKEN?.trim() ?? '';
    if (token === '') return undefined;
  }
  if (/\s/.test(token)) {
    throw new Error('the token must not contain white space (a bearer token is one word)');
  }
  return token;
}

/** A client interceptor that sends `authorization: Bearer TOKEN` with every call. */
export function bearerTokenInterceptor(token: string): Interceptor {
  const value = `Bearer ${token}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', value);
        next(metadata, listener);
      },
    });
}
