/**
 * Bot session names that a server which has forgotten the session can
 * still check: `{parent}/botSessions/{uuid}.{seal}`, the seal binding the
 * name to its parent, its bot id and the principal that created it.
 *
 * Why: an in-memory scheduler forgets every session when `kiln serve`
 * restarts, and each bot then made three calls to come back (an update
 * answered NOT_FOUND, CreateBotSession, an update). With a sealed name the
 * restarted server re-opens the session on the bot's first update, when the
 * caller is the principal (and the bot the bot id) the name was made for:
 * one call per bot. Nobody else can take the name over: a caller's seal for
 * someone else's name does not match, and the re-opened session belongs to
 * the caller. The seal is a plain hash, not a secret: it only says who may
 * re-open the name, and callers' identities are checked by authentication.
 */
import { hash, randomUUID } from 'node:crypto';

const SESSIONS = 'botSessions/';

/**
 * The seal of a session name: the first 22 base64url characters (132 bits)
 * of the SHA-256 of what the name is for. (The one-shot `hash` costs a
 * third of `createHash`, and a fleet re-registering computes one per bot.)
 */
function seal(parent: string, botId: string, principal: string | undefined): string {
  const what = JSON.stringify(['kiln bot session', parent, botId, principal ?? null]);
  return hash('sha256', what, 'base64url').slice(0, 22);
}

/** A new session name for `botId` of `principal` (undefined without authentication) under `parent`. */
export function newSessionName(
  parent: string,
  botId: string,
  principal: string | undefined,
): string {
  const prefix = parent === '' ? '' : `${parent}/`;
  return `${prefix}${SESSIONS}${randomUUID()}.${seal(parent, botId, principal)}`;
}

/**
 * Whether `name` was made by {@link newSessionName} for this bot id and
 * principal, so that the bot may re-open it after the server forgot it.
 * False for names of another form (another server's, an older Kiln's).
 */
export function mayReopenSession(
  name: string,
  botId: string,
  principal: string | undefined,
): boolean {
  const at = name.lastIndexOf(SESSIONS);
  if (at < 0 || (at > 0 && name[at - 1] !== '/')) return false;
  const parent = at === 0 ? '' : name.slice(0, at - 1);
  const id = name.slice(at + SESSIONS.length);
  const dot = id.lastIndexOf('.');
  if (dot < 1 || id.includes('/')) return false;
  return id.slice(dot + 1) === seal(parent, botId, principal);
}
