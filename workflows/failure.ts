import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/** What a workflow tells a user about a failed step: a reason (CamelCase), words, and whether to retry. */
export interface FailureInfo {
  type: string;
  message: string;
  permanent: boolean;
}

/**
 * The failure behind an activity error, as the workflows report it: the ApplicationFailure's type
 * (an HTTP status class or a bare transient one reads as ReconcileFailed) and its non-retryable flag.
 */
export function describeFailure(err: unknown): FailureInfo {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return {
      type:
        cause.type && !cause.type.startsWith('Http') && cause.type !== 'Transient'
          ? cause.type
          : 'ReconcileFailed',
      message: cause.message,
      permanent: !!cause.nonRetryable,
    };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type: 'ReconcileFailed', message, permanent: false };
}
