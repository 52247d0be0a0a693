import type { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  ActivityOutboundCallsInterceptor,
  GetLogAttributesInput,
  Next,
} from '@temporalio/worker';
import { identifierLabel, type WorkerMetrics } from './metrics';

/**
 * Activity interceptors of the worker, for what every activity has in common:
 *
 * - log attributes: every line logged from an activity (the SDK's own "Activity started",
 *   "Activity completed" with durationMs, "Activity failed", and anything logged through
 *   `Context.current().log`) carries `database: <namespace>/<name>` besides the SDK's workflowId,
 *   workflowRunId, activityType, activityId and attempt; the Runtime logger routes them to pino;
 * - metrics: the duration of each attempt by activity type and outcome, and failures by type.
 *
 * Neither looks at the activity's arguments or results, so nothing of a spec or a Secret can
 * reach a log line or a label this way.
 */

/** `database/<namespace>/<name>` (the workflow ID of a Database) → `<namespace>/<name>`. */
export function databaseOfWorkflowId(workflowId: string | undefined): string | undefined {
  const m = /^database\/([^/]+)\/([^/]+)$/.exec(workflowId ?? '');
  return m ? `${m[1]}/${m[2]}` : undefined;
}

class LogAttributes implements ActivityOutboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  getLogAttributes(
    input: GetLogAttributesInput,
    next: Next<ActivityOutboundCallsInterceptor, 'getLogAttributes'>,
  ): Record<string, unknown> {
    const database = databaseOfWorkflowId(this.ctx.info.workflowExecution?.workflowId);
    return next(database ? { ...input, database } : input);
  }
}

class Measure implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly metrics: WorkerMetrics,
  ) {}

  async execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const activity = this.ctx.info.activityType;
    const stop = this.metrics.activityDuration.startTimer({ activity });
    try {
      const result = await next(input);
      stop({ outcome: 'success' });
      return result;
    } catch (err) {
      if (err instanceof CancelledFailure || this.ctx.cancellationSignal.aborted) {
        stop({ outcome: 'cancelled' });
      } else {
        stop({ outcome: 'failure' });
        this.metrics.activityFailures.inc({ activity, type: failureType(err) });
      }
      throw err;
    }
  }
}

/** ApplicationFailure type (Invalid, Http409, Transient, …), else the error's class name. */
function failureType(err: unknown): string {
  if (err instanceof ApplicationFailure) return identifierLabel(err.type ?? 'ApplicationFailure');
  return identifierLabel(err instanceof Error ? err.name : 'Unknown');
}

/** The worker's activity interceptors; metrics only when a registry is given. */
export function activityInterceptors(metrics?: WorkerMetrics): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: metrics ? new Measure(ctx, metrics) : undefined,
    outbound: new LogAttributes(ctx),
  });
}
