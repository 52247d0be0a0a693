import { ApplicationFailure } from '@temporalio/activity';
import { redact } from './credentials';

/**
 * Failure types of engine calls (DESIGN.md rule 4), the engine counterpart of
 * activities/errors.ts. The workflow turns a type into a condition reason.
 */
export const EngineFailureTypes = {
  /** Refused, reset, timed out, name not resolvable, starting up or shutting down: try again. */
  Unavailable: 'EngineUnavailable',
  /** Retryable too: a fresh engine may still be running its init scripts with another password. */
  AuthFailed: 'EngineAuthFailed',
  /** The engine rejects the statement itself (syntax, privilege): retrying cannot help. */
  Rejected: 'EngineRejected',
  /** The server is another engine than the spec says (a MySQL server for engine: mariadb). */
  Mismatch: 'EngineMismatch',
} as const;

/** PostgreSQL SQLSTATEs (classes or codes) that are the statement's fault. */
const PG_PERMANENT = [/^42/, /^0A/, /^22/, /^2B/, /^44/];
/** MySQL / MariaDB error codes that are the statement's fault. */
const MYSQL_PERMANENT = new Set([
  'ER_PARSE_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_UNKNOWN_SYSTEM_VARIABLE',
  'ER_WRONG_VALUE_FOR_VAR',
  'ER_NOT_SUPPORTED_YET',
]);
const AUTH_CODES = new Set(['28P01', '28000', 'ER_ACCESS_DENIED_ERROR', 'ER_NOT_SUPPORTED_AUTH_MODE']);

interface EngineError {
  code?: unknown;
  message?: unknown;
}

/**
 * Converts whatever an engine client threw while doing `what` into the right failure. The
 * message is the engine's own (with every secret value blanked out: a syntax error can quote the
 * statement), never the statement, and the original error is not attached as a cause.
 */
export function classifyEngineError(
  err: unknown,
  what: string,
  secrets: readonly string[],
): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = (err ?? {}) as EngineError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const raw = typeof e.message === 'string' && e.message ? e.message : String(err);
  const message = redact(`${what}: ${raw}${code ? ` (${code})` : ''}`, secrets).slice(0, 900);
  if (code && AUTH_CODES.has(code)) {
    return ApplicationFailure.retryable(
      `${message}; the engine may still be initialising, or its password differs from the credentials Secret`,
      EngineFailureTypes.AuthFailed,
    );
  }
  if (code && (MYSQL_PERMANENT.has(code) || PG_PERMANENT.some((re) => re.test(code)))) {
    return ApplicationFailure.nonRetryable(message, EngineFailureTypes.Rejected);
  }
  // Network trouble, timeouts ("timeout expired", "Connection terminated"), a server starting up
  // (57P03) or shutting down, lock timeouts, unknown errors: another attempt may succeed.
  return ApplicationFailure.retryable(message, EngineFailureTypes.Unavailable);
}

/** Runs an engine call and classifies whatever it throws. */
export async function engineCall<T>(
  what: string,
  secrets: readonly string[],
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyEngineError(err, what, secrets);
  }
}
