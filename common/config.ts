import { z } from 'zod';

/**
 * Operator configuration, read from the environment and validated once at start so that a typo
 * fails loudly with the variable's name instead of surfacing later as a confusing error.
 */
const commaList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'not a valid namespace name')));

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('durable-db-operator'),
  /** mTLS to a remote Temporal: paths of PEM files (mounted from a Secret). */
  TEMPORAL_TLS_CERT: z.string().optional(),
  TEMPORAL_TLS_KEY: z.string().optional(),
  TEMPORAL_TLS_CA: z.string().optional(),
  /** Server name to verify when it differs from the address' host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  /** API key for Temporal Cloud; implies TLS. A file path is preferred over the raw value. */
  TEMPORAL_API_KEY_FILE: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  /** Base URL of the Temporal UI, used for the link in each Database's status. */
  TEMPORAL_UI_URL: z.string().url().optional(),
  /** Path of a kubeconfig; empty means in-cluster, then ~/.kube/config. */
  KUBECONFIG: z.string().optional(),
  /**
   * For a worker that runs outside the cluster (on the local stack's machine): the cluster's DNS
   * server, `ip` or `ip:port`, where members' names (`<pod>.<db>-headless.<ns>.svc`) are resolved
   * (engines/resolver.ts). Unset in a pod, whose own resolver knows the cluster's names.
   */
  CLUSTER_DNS: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/, 'expected an IPv4 address, optionally with :port')
    .optional(),
  /** Namespaces to watch, comma separated; empty means all namespaces. */
  WATCH_NAMESPACES: commaList.default([]),
  /** Events in a Database workflow run's history before it continues as new (Temporal's limit is 51,200). */
  DATABASE_HISTORY_LIMIT: z.coerce.number().int().min(20).max(40_000).default(2_000),
  /** One readiness wait of a Database workflow returns after this many seconds to report progress. */
  READY_WAIT_SECONDS: z.coerce.number().int().min(1).max(60).default(60),
  /**
   * A Database at rest is looked over about this often (±10%); changes and drift are signalled
   * by the watcher in between. One timer and one activity per look (6 h: 8 actions a day).
   */
  RESYNC_SECONDS: z.coerce
    .number()
    .int()
    .min(10)
    .max(7 * 86_400)
    .default(6 * 3600),
  /**
   * The worker's footprint (README "Memory and CPU"). Workflows kept in the worker's cache between
   * their tasks: a Database at rest is woken a few times a day, and one evicted from the cache is
   * replayed from its (bounded) history on its next task, so the cache needs to hold only the
   * Databases busy at one time, not all of them. The SDK's default grows with the heap limit
   * (thousands on a large machine), and with it the worker's memory.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(100_000).default(100),
  /** Workflow tasks run at once (the SDK's default is 40); at least 2 while the cache is on. */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(1).max(1_000).default(10),
  /**
   * Activities run at once. Most of them wait on the API server or an engine (a readiness wait
   * holds its slot for up to READY_WAIT_SECONDS), so slots are cheap and many Databases applied
   * together each need one: the SDK's default of 100 is kept.
   */
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(100),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Leader election for the watcher (a Lease in this namespace). */
  LEADER_ELECTION_NAMESPACE: z.string().min(1).default('default'),
  LEADER_ELECTION_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Identity of this process in leader election and Temporal; defaults to hostname-pid. */
  POD_NAME: z.string().optional(),
  /** Pre-built workflow bundle (written by `durable-db-operator bundle`); bundled at start when absent. */
  WORKFLOW_BUNDLE_PATH: z.string().optional(),
  /** Port of the health and metrics endpoints (/healthz, /readyz, /metrics); 0 picks a free port. */
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  /** OpenTelemetry tracing through Temporal's interceptors (client, workflows, activities). */
  OTEL_TRACING_ENABLED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** OTLP/HTTP base URL (the standard variable); spans go to `<endpoint>/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
});

export type OperatorConfig = z.infer<typeof envSchema>;
export const CONFIG_KEYS = Object.keys(envSchema.shape) as (keyof OperatorConfig)[];

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  // Empty strings mean "unset" (how a Helm value or compose file usually leaves a variable).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid operator configuration:\n${lines.join('\n')}`);
  }
  const cfg = parsed.data;
  if (cfg.WORKER_MAX_CACHED_WORKFLOWS > 0 && cfg.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS < 2) {
    throw new ConfigError(
      'invalid operator configuration:\n  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS must be at least 2 while WORKER_MAX_CACHED_WORKFLOWS is above 0',
    );
  }
  if (Boolean(cfg.TEMPORAL_TLS_CERT) !== Boolean(cfg.TEMPORAL_TLS_KEY)) {
    throw new ConfigError(
      'invalid operator configuration:\n  TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together',
    );
  }
  return cfg;
}
