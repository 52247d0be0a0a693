import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, WorkerOptions } from '@temporalio/worker';
import type { OperatorConfig } from './config';
import type { Logger } from './logger';
import { packageVersion, type Component } from './metrics';

/**
 * OpenTelemetry tracing through Temporal's own interceptors (@temporalio/interceptors-opentelemetry),
 * off unless OTEL_TRACING_ENABLED=true. Spans go over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT
 * (`<endpoint>/v1/traces`; without it, the exporter's standard variables and default apply).
 *
 * - watcher: the client interceptor wraps each signalWithStart / signal in a span and passes its
 *   context to the workflow in a header;
 * - worker: the workflow interceptors (workflows/interceptors.ts, which must be in the workflow
 *   bundle) make spans for the workflow run, its signal handlers and each activity it schedules,
 *   exported through the `exporter` sink; the activity interceptor makes a span per activity
 *   attempt, a child of the workflow's, and adds trace and span ids to the activity log lines.
 *
 * One trace thus runs from the watcher's signalWithStart through the workflow to every activity.
 */

const SERVICE_NAME = 'durable-db-operator';

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

let globalRegistered = false;

/** The tracing of one process, or undefined when tracing is off. */
export function setupTracing(
  cfg: Pick<OperatorConfig, 'OTEL_TRACING_ENABLED' | 'OTEL_EXPORTER_OTLP_ENDPOINT'>,
  component: Component,
  logger: Logger,
  opts: TracingOptions,
): Tracing | undefined {
  if (!cfg.OTEL_TRACING_ENABLED) return undefined;
  const resource = new Resource({
    [ATTR_SERVICE_NAME]: SERVICE_NAME,
    [ATTR_SERVICE_VERSION]: packageVersion(),
    'service.instance.id': opts.instance,
    'durable.component': component,
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, take precedence.
  }).merge(envDetectorSync.detect());
  const endpoint = cfg.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const spanProcessor =
    opts.spanProcessor ??
    new BatchSpanProcessor(new OTLPTraceExporter(endpoint ? { url: `${endpoint}/v1/traces` } : {}));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // The global W3C propagator and AsyncLocalStorage context manager carry span contexts through
  // Temporal headers and across awaits. Registered once per process; every component uses its own
  // provider's tracer explicitly, so that worker and watcher in one process (npm run dev, tests)
  // each report under their own resource.
  if (!globalRegistered) {
    provider.register();
    globalRegistered = true;
  }
  const tracer = provider.getTracer(SERVICE_NAME, packageVersion());
  logger.info(
    { endpoint: endpoint ? `${endpoint}/v1/traces` : '(OTLP exporter default)' },
    'OpenTelemetry tracing enabled',
  );
  return {
    tracer,
    spanProcessor,
    resource,
    clientInterceptors: () => [new OpenTelemetryWorkflowClientInterceptor({ tracer })],
    activityInterceptors: () => [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    sinks: () => ({ exporter: makeWorkflowExporter(spanProcessor, resource) }),
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * The `exporter` sink of the workflow interceptors when tracing is off: a workflow bundle built
 * with workflows/interceptors.ts then runs quietly instead of logging calls to a missing sink.
 */
export function disabledTracingSinks(): NonNullable<WorkerOptions['sinks']> {
  return { exporter: { export: { fn: () => undefined } } };
}
