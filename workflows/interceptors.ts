/**
 * Workflow interceptors for OpenTelemetry tracing, as @temporalio/interceptors-opentelemetry
 * documents them: a span for the workflow run (a child of the watcher's signalWithStart span),
 * one per signal handled and one per activity scheduled, whose context travels to the activity in
 * a header. Deterministic: the spans are built inside the sandbox from workflow time and leave it
 * only through the `exporter` sink, which is not called during replay.
 *
 * Not part of `workflows/index.ts`: the worker bundles this module (`workflowInterceptorModules`)
 * only when tracing is on, or into a pre-built bundle meant to allow it (see cmd/worker.ts).
 */
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow';
import type { WorkflowInterceptors } from '@temporalio/workflow';

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
