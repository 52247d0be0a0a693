/**
 * Small timing helpers shared by the watcher's modules: exponential backoff with jitter and a
 * timeout for promises that have none of their own (client-node 1.x requests have no client-side
 * timeout).
 */

export interface BackoffOptions {
  /** Delay after the first failure. */
  initialMs: number;
  /** Upper bound of the delay. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** Delay before retry number `attempt` (1 = first retry): doubling, capped, with ±20 % jitter. */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, attempt - 1));
  const jitter = exp * 0.2 * (Math.random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(opts.maxMs, exp + jitter)));
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Rejects with a TimeoutError when `promise` has not settled within `ms`. The underlying request
 * is not cancelled (the client offers no way); its late result is ignored.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** A short, log-safe description of an error: its name, HTTP/gRPC code and message, no bodies. */
export function describeError(err: unknown): { error: string; code?: number | string } {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; statusCode?: unknown };
    const code = typeof e.statusCode === 'number' ? e.statusCode : e.code;
    // ApiException messages embed the response body; keep only the first line.
    const message = e.message.split('\n')[0]!.slice(0, 300);
    return {
      error: `${e.name}: ${message}`,
      ...(typeof code === 'number' || typeof code === 'string' ? { code } : {}),
    };
  }
  return { error: String(err).slice(0, 300) };
}

/** HTTP status of a client-node error (ApiException.code, or statusCode of a watch error). */
export function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}
