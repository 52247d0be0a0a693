import * as k8s from '@kubernetes/client-node';

/**
 * Readiness checks of the operator's processes: cheap calls to what they depend on, each bounded
 * by a timeout and cached for a few seconds, so that probes (and anyone else polling /readyz)
 * cost the Temporal frontend and the API server at most one request per check and period.
 */

export interface CheckResult {
  ok: boolean;
  /** Why it is not ok, or a detail worth showing. Never carries credentials. */
  message?: string;
  /** Milliseconds the check's request took. */
  latencyMs?: number;
  /** When the result was obtained (ISO 8601); older than `ttlMs` means a new request. */
  checkedAt?: string;
}

export type Check = () => Promise<CheckResult>;

export const DEFAULT_CHECK_TTL_MS = 5_000;
export const DEFAULT_CHECK_TIMEOUT_MS = 3_000;

/** Runs `request` with a timeout and reports how it went. */
async function probe(request: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const began = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      request(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - began) };
  } catch (err) {
    return {
      ok: false,
      message: errorMessage(err),
      latencyMs: Math.round(performance.now() - began),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** The first line of an error's message, bounded (client-node messages embed response bodies). */
function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 200);
}

/**
 * Caches a check's result for `ttlMs`; concurrent callers share one request in flight. A failed
 * result is cached too: a dependency that is down is not hammered by every probe.
 */
export function cached(check: Check, ttlMs = DEFAULT_CHECK_TTL_MS): Check {
  let last: { result: CheckResult; at: number } | undefined;
  let inFlight: Promise<CheckResult> | undefined;
  return () => {
    if (last && performance.now() - last.at < ttlMs) return Promise.resolve(last.result);
    inFlight ??= check()
      .then((result) => {
        const stamped = { ...result, checkedAt: new Date().toISOString() };
        last = { result: stamped, at: performance.now() };
        return stamped;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}

/** What the Temporal check needs of a connection: the client's Connection and the worker's NativeConnection both fit. */
export interface TemporalConnectionLike {
  workflowService: { getSystemInfo(request: object): Promise<unknown> };
  withDeadline<R>(deadline: number | Date, fn: () => Promise<R>): Promise<R>;
}

/** The Temporal frontend answers GetSystemInfo (what SDKs call when they connect). */
export function temporalCheck(
  connection: () => TemporalConnectionLike | undefined,
  timeoutMs = DEFAULT_CHECK_TIMEOUT_MS,
): Check {
  return async () => {
    const conn = connection();
    if (!conn) return { ok: false, message: 'not connected yet' };
    return probe(
      () => conn.withDeadline(Date.now() + timeoutMs, () => conn.workflowService.getSystemInfo({})),
      timeoutMs + 500,
    );
  };
}

/**
 * The Kubernetes API server answers GET /version, which every authenticated (and anonymous)
 * client may read (ClusterRole system:public-info-viewer): no extra RBAC.
 */
export function kubernetesCheck(kubeConfig: k8s.KubeConfig, timeoutMs = DEFAULT_CHECK_TIMEOUT_MS): Check {
  const api = kubeConfig.makeApiClient(k8s.VersionApi);
  return () => probe(() => api.getCode(), timeoutMs);
}

/** Runs named checks in parallel. */
export async function runChecks(checks: Record<string, Check>): Promise<Record<string, CheckResult>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        return [name, await check()] as const;
      } catch (err) {
        return [name, { ok: false, message: errorMessage(err) }] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}
