import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { envDetectorSync, Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { OperatorConfig } from './config';
import type { Logger } from './logger';
import { packageVersion, type Component } from './metrics';
import type { Tracing, TracingOptions } from './tracing-types';

/** The OpenTelemetry side of common/tracing.ts, loaded only when tracing is on. */

const SERVICE_NAME = 'durable-db-operator';

let globalRegistered = false;

export function startTracing(
  cfg: Pick<OperatorConfig, 'OTEL_EXPORTER_OTLP_ENDPOINT'>,
  component: Component,
  logger: Logger,
  opts: TracingOptions,
): Tracing {
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
