import { ApiException } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/activity';

/**
 * Error classification (DESIGN.md rule 4). What can never succeed by retrying becomes a
 * non-retryable ApplicationFailure whose type the workflow turns into a condition reason; the rest
 * is rethrown as retryable and left to the activity's retry policy.
 *
 * Messages are built from the API server's Status (reason, message) only, never from the request
 * body, so no Secret value can end up in a failure that Temporal stores.
 */
export const FailureTypes = {
  Invalid: 'Invalid', // 400, 422: the object we sent is rejected
  Forbidden: 'Forbidden', // 401, 403: RBAC or admission denies it
  NotFound: 'NotFound',
  DatabaseGone: 'DatabaseGone', // the Database (this uid) no longer exists
  DatabaseDeleting: 'DatabaseDeleting', // being deleted: an upgrade step must not re-create objects
  Unsatisfiable: 'Unsatisfiable', // a prerequisite the cluster lacks (e.g. a StorageClass)
  SpecChanged: 'SpecChanged', // the Database moved past the generation being reconciled
} as const;

const PERMANENT: Record<number, string> = {
  400: FailureTypes.Invalid,
  401: FailureTypes.Forbidden,
  403: FailureTypes.Forbidden,
  422: FailureTypes.Invalid,
};

interface StatusBody {
  reason?: string;
  message?: string;
  details?: { causes?: { type?: string }[] };
}

export function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return statusOf(err) === 409;
}

/**
 * The API server refuses to create anything in a namespace that is being deleted: a 403 from the
 * NamespaceLifecycle admission plugin, with the cause `NamespaceTerminating` (older servers: only
 * the message says so). Not a missing permission: nothing new can ever be made there.
 */
export function isNamespaceTerminating(err: unknown): boolean {
  if (statusOf(err) !== 403) return false;
  const body = parseBody((err as ApiException<unknown>).body);
  return (
    (body.details?.causes ?? []).some((c) => c.type === 'NamespaceTerminating') ||
    /because it is being terminated/.test(body.message ?? '')
  );
}

/** The API server's own explanation, without the request. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = parseBody(err.body);
    return `${err.code} ${body.reason ?? ''}: ${body.message ?? 'request failed'}`.replace(' :', ':');
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Converts an error from a Kubernetes call made while doing `what` into the right failure. */
export function classify(err: unknown, what: string): Error {
  if (err instanceof ApplicationFailure) return err;
  const code = statusOf(err);
  const type = code !== undefined ? PERMANENT[code] : undefined;
  const message = `${what}: ${apiMessage(err)}`;
  if (type) return ApplicationFailure.nonRetryable(message, type);
  // 409 conflicts, 429, 5xx, timeouts and refused connections: worth another attempt.
  return ApplicationFailure.retryable(message, code !== undefined ? `Http${code}` : 'Transient');
}

/** Runs a Kubernetes call and classifies whatever it throws. */
export async function kubeCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classify(err, what);
  }
}

/** `kubeCall` for a read: undefined when the object is not there (404), classified otherwise. */
export function kubeRead<T>(what: string, read: () => Promise<T>): Promise<T | undefined> {
  return kubeCall(`read ${what}`, async () => {
    try {
      return await read();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
}

function parseBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body.slice(0, 300) };
    }
  }
  return (body ?? {}) as StatusBody;
}
