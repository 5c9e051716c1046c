/**
 * `BENCH_TOKEN=…`: benchmark with token authentication on. The server gets
 * an `auth` section with that token holding every permission, and every
 * benchmark client sends it; without the variable, Kiln runs as by default
 * (protected mode, loopback callers allowed).
 */
import type { Interceptor } from '@grpc/grpc-js';
import { bearerTokenInterceptor } from '../src/client/bearer-token.ts';

/** The token, or undefined when the benchmark runs without authentication. */
export const BENCH_TOKEN: string | undefined = process.env.BENCH_TOKEN || undefined;

/** YAML for the server's configuration file: an `auth` section, or nothing. */
export function benchAuthYaml(): string {
  if (BENCH_TOKEN === undefined) return '';
  const all = 'cas:read, cas:write, ac:read, ac:write, execute, worker, admin';
  return `auth:\n  tokens:\n    - principal: bench\n      token: ${JSON.stringify(BENCH_TOKEN)}\n      permissions: [${all}]\n`;
}

/** Client interceptors sending the token, or none. */
export function benchInterceptors(): Interceptor[] {
  return BENCH_TOKEN === undefined ? [] : [bearerTokenInterceptor(BENCH_TOKEN)];
}
