import type { WorkerOptions } from '@temporalio/worker';
import type { OperatorConfig } from './config';
import type { Logger } from './logger';
import type { Component } from './metrics';
import type { Tracing, TracingOptions } from './tracing-types';

export type { Tracing, TracingOptions } from './tracing-types';

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

/**
 * The tracing of one process, or undefined when tracing is off. The OpenTelemetry SDK and
 * Temporal's interceptors are loaded only then (common/tracing-sdk.ts): a process that does not
 * trace does not carry them (a few MiB of code and heap).
 */
export async function setupTracing(
  cfg: Pick<OperatorConfig, 'OTEL_TRACING_ENABLED' | 'OTEL_EXPORTER_OTLP_ENDPOINT'>,
  component: Component,
  logger: Logger,
  opts: TracingOptions,
): Promise<Tracing | undefined> {
  if (!cfg.OTEL_TRACING_ENABLED) return undefined;
  // require, not import(): the code is CommonJS, and Jest's sandbox runs no dynamic import.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTracing } = require('./tracing-sdk') as typeof import('./tracing-sdk.js');
  return startTracing(cfg, component, logger, opts);
}

/**
 * The `exporter` sink of the workflow interceptors when tracing is off: a workflow bundle built
 * with workflows/interceptors.ts then runs quietly instead of logging calls to a missing sink.
 */
export function disabledTracingSinks(): NonNullable<WorkerOptions['sinks']> {
  return { exporter: { export: { fn: () => undefined } } };
}
