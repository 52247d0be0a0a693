/**
 * The types of a process's tracing, apart from both common/tracing.ts (which loads the SDK
 * lazily) and common/tracing-sdk.ts (which implements them), so neither imports the other's types.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { ActivityInterceptorsFactory, WorkerOptions } from '@temporalio/worker';

export interface Tracing {
  readonly tracer: Tracer;
  readonly spanProcessor: SpanProcessor;
  readonly resource: Resource;
  /** For the watcher's Temporal Client (`interceptors.workflow`). */
  clientInterceptors(): WorkflowClientInterceptor[];
  /** For the Worker (`interceptors.activity`). */
  activityInterceptors(): ActivityInterceptorsFactory[];
  /** For the Worker (`sinks`): receives the workflow's spans. */
  sinks(): NonNullable<WorkerOptions['sinks']>;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Identity of this process (`service.instance.id`). */
  instance: string;
  /** Replaces the OTLP batch exporter (tests). */
  spanProcessor?: SpanProcessor;
}
