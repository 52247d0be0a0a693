import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../common/config';
import { METRICS, registeredMetrics, type MetricDefinition } from '../../common/metrics';

/**
 * Static checks of the observability artefacts (no stack needed): the Grafana dashboard and the
 * PrometheusRule use only metrics the code registers, every operator metric is on the dashboard
 * or in an alert, and the README documents each one.
 */
const root = path.resolve(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

/** Prometheus's own series, not registered by any process. */
const PROMETHEUS_SERIES = new Set(['up']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];
const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects: identifiers that are neither functions nor
 * aggregations (followed by `(`), keywords, label names (in `{…}` or `by (…)`), durations or
 * Grafana variables.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?\w+/gi, ' ') // offset modifiers
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ') // Grafana variables
    .replace(/(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/g, ' '); // numbers
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(m.index + m[0].length);
    if (/^\s*\(/.test(after)) continue; // a function or aggregation
    if (PROMQL_KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

interface Panel {
  id?: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(read('deploy/observability/grafana-dashboard.json')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string }[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const dashboardExprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const ruleFile = YAML.parse(read('deploy/observability/prometheus-rules.yaml')) as {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: { groups: { name: string; rules: Rule[] }[] };
};
const rules = ruleFile.spec.groups.flatMap((g) => g.rules);

const registered = registeredMetrics();
const registeredNames = new Set(registered.map((m) => m.name));

/** True when `name` is a series some process exposes. */
function exposed(name: string): boolean {
  if (registeredNames.has(name) || PROMETHEUS_SERIES.has(name)) return true;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
  if (!suffix) return false;
  const base = name.slice(0, -suffix.length);
  return registered.some((m) => m.name === base && m.type === 'histogram');
}

const baseName = (name: string) => {
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
  return suffix && !registeredNames.has(name) ? name.slice(0, -suffix.length) : name;
};

describe('PromQL metric name extraction', () => {
  it.each([
    [
      'histogram_quantile(0.95, sum by (le, activity) (rate(durable_activity_duration_seconds_bucket[$__rate_interval])))',
      ['durable_activity_duration_seconds_bucket'],
    ],
    ['(sum(durable_watcher_leader) or vector(0)) < 1', ['durable_watcher_leader']],
    ['sum(rate(a_total{x="y z"}[5m])) / sum(rate(b_count[5m])) > 1e-3', ['a_total', 'b_count']],
    ['up{job=~".*op.*"} == 0 unless on (instance) foo offset 5m', ['up', 'foo']],
    ['max by (instance) (durable_watcher_leader)', ['durable_watcher_leader']],
  ])('%s', (expr, names) => {
    expect(metricNamesIn(expr).sort()).toEqual([...names].sort());
  });
});

describe('metrics registry', () => {
  const definitions: MetricDefinition[] = Object.values(METRICS);

  it('registers every defined metric with its type and labels, prefixed durable_', () => {
    for (const d of definitions) {
      expect(d.name).toMatch(/^durable_[a-z0-9_]+$/);
      const components = d.component === 'both' ? ['worker', 'watcher'] : [d.component];
      for (const component of components) {
        expect(registered).toContainEqual({ name: d.name, type: d.type, component });
      }
      if (d.type === 'counter') expect(d.name).toMatch(/_total$/);
      if (d.type === 'histogram') expect(d.name).toMatch(/_seconds$/);
    }
    const durable = [...registeredNames].filter((n) => n.startsWith('durable_'));
    expect(durable.sort()).toEqual(definitions.map((d) => d.name).sort());
  });

  it('registers the default process metrics in both processes', () => {
    for (const component of ['worker', 'watcher'] as const) {
      const names = registered.filter((m) => m.component === component).map((m) => m.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'process_cpu_seconds_total',
          'process_resident_memory_bytes',
          'nodejs_eventloop_lag_p99_seconds',
        ]),
      );
    }
  });
});

describe('Grafana dashboard', () => {
  it('uses only metrics the operator registers', () => {
    expect(dashboardExprs.length).toBeGreaterThan(10);
    const unknown = dashboardExprs.flatMap((e) => metricNamesIn(e).filter((n) => !exposed(n)));
    expect(unknown).toEqual([]);
  });

  it('shows every durable_ metric', () => {
    const shown = new Set(dashboardExprs.flatMap(metricNamesIn).map(baseName));
    const missing = Object.values(METRICS)
      .map((d) => d.name)
      .filter((n) => !shown.has(n));
    expect(missing).toEqual([]);
  });

  it('has the panels asked for, unique ids, and a Prometheus data source variable', () => {
    const titles = panels.map((p) => p.title.toLowerCase()).join('\n');
    for (const subject of [
      'databases by phase',
      'activity latency p95',
      'reconcile latency',
      'signal latency',
      'backup runs',
      'workflow failures',
      'watcher leader',
    ]) {
      expect(titles).toContain(subject);
    }
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    for (const p of panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid).toBe('${datasource}');
    }
  });
});

describe('PrometheusRule', () => {
  it('is a PrometheusRule whose alerts are complete and uniquely named', () => {
    expect(ruleFile).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' });
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const r of rules) {
      expect(r.alert).toMatch(/^DurableDbOperator[A-Za-z]+$/);
      expect(r.labels?.severity).toMatch(/^(warning|critical)$/);
      expect(r.annotations?.summary).toBeTruthy();
      expect(r.annotations?.description).toBeTruthy();
      if (r.for) expect(r.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('uses only metrics the operator registers (and Prometheus `up`)', () => {
    const unknown = rules.flatMap((r) => metricNamesIn(r.expr).filter((n) => !exposed(n)));
    expect(unknown).toEqual([]);
  });

  it('alerts on failures, backups, reconcile latency, the watcher leader and targets down', () => {
    const used = (alert: string) => metricNamesIn(rules.find((r) => r.alert === alert)!.expr).map(baseName);
    expect(used('DurableDbOperatorWorkflowFailures')).toContain('durable_workflow_failures_total');
    expect(used('DurableDbOperatorBackupsFailing')).toContain('durable_backup_runs_total');
    expect(used('DurableDbOperatorReconcileLatencyHigh')).toContain('durable_reconcile_latency_seconds');
    expect(used('DurableDbOperatorNoWatcherLeader')).toContain('durable_watcher_leader');
    expect(used('DurableDbOperatorTargetDown')).toContain('up');
  });
});

describe('README', () => {
  const readme = read('README.md');
  const start = readme.indexOf('## Observability');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));

  it('has one Observability section, before "Run the tests"', () => {
    expect(start).toBeGreaterThan(0);
    expect(readme.indexOf('## Observability', start + 1)).toBe(-1);
    expect(start).toBeLessThan(readme.indexOf('## Run the tests'));
  });

  it('documents every durable_ metric with its labels, the endpoints and the tracing switch', () => {
    for (const d of Object.values(METRICS)) {
      const row = section.split('\n').find((line) => line.includes(`\`${d.name}\``));
      expect({ metric: d.name, row }).toEqual({ metric: d.name, row: expect.stringContaining(d.type) });
      for (const label of d.labels)
        expect({ metric: d.name, row }).toMatchObject({ row: expect.stringContaining(label) });
    }
    for (const text of [
      '/metrics',
      '/healthz',
      '/readyz',
      'HTTP_PORT',
      'OTEL_TRACING_ENABLED',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    ]) {
      expect(section).toContain(text);
    }
  });
});

describe('configuration of the endpoints and tracing', () => {
  it('defaults to 0.0.0.0:8080 with tracing off', () => {
    expect(loadConfig({})).toMatchObject({
      HTTP_PORT: 8080,
      HTTP_HOST: '0.0.0.0',
      OTEL_TRACING_ENABLED: false,
    });
  });

  it('accepts port 0 (a free port) and the OTLP endpoint, and rejects bad values by name', () => {
    expect(
      loadConfig({
        HTTP_PORT: '0',
        OTEL_TRACING_ENABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318',
      }),
    ).toMatchObject({
      HTTP_PORT: 0,
      OTEL_TRACING_ENABLED: true,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318',
    });
    expect(() => loadConfig({ HTTP_PORT: '70000' })).toThrow('HTTP_PORT');
    expect(() => loadConfig({ HTTP_PORT: 'http' })).toThrow('HTTP_PORT');
    expect(() => loadConfig({ OTEL_TRACING_ENABLED: 'yes' })).toThrow('OTEL_TRACING_ENABLED');
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'otel:4318' })).toThrow(
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    );
  });
});
