import net from 'node:net';
import pino from 'pino';
import { databaseOfWorkflowId } from '../../common/activity-interceptors';
import { cached, type CheckResult } from '../../common/health';
import { startObservabilityServer } from '../../common/http-server';
import { identifierLabel, WatcherMetrics, type DatabaseLike } from '../../common/metrics';
import type { InformerEvent } from '../../watcher';

/**
 * Unit tests of the observability building blocks that need no stack: the watcher metrics'
 * bookkeeping, the readiness cache and the HTTP server's handling of a taken port.
 */

const silent = pino({ level: 'silent' });

function db(uid: string, generation: number, status?: object, engine = 'postgres'): DatabaseLike {
  return { metadata: { uid, generation }, spec: { engine }, status };
}

function event(type: InformerEvent['type'], object: DatabaseLike, old?: DatabaseLike): InformerEvent {
  return { informer: 'databases/shop', type, object: object as InformerEvent['object'], old: old as never };
}

/** Sum of a counter's values whose labels include `labels`. */
async function value(m: WatcherMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await m.registry.getSingleMetric(name)!.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('WatcherMetrics', () => {
  it('observes the reconcile latency once, when observedGeneration catches up with Ready or Failed', async () => {
    const m = new WatcherMetrics({ defaultMetrics: false });
    const count = (labels: Record<string, string> = {}) =>
      m.reconcileLatency.get().then((r) =>
        r.values
          .filter((v) => v.metricName === 'durable_reconcile_latency_seconds_count')
          .filter((v) =>
            Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
          )
          .reduce((s, v) => s + v.value, 0),
      );
    const fresh = db('a', 1);
    m.informerEvent(event('add', fresh));
    const provisioning = db('a', 1, { phase: 'Provisioning' });
    m.informerEvent(event('update', provisioning, fresh));
    expect(await count()).toBe(0);
    const ready = db('a', 1, { phase: 'Ready', observedGeneration: 1 });
    m.informerEvent(event('update', ready, provisioning));
    m.informerEvent(event('update', db('a', 1, { phase: 'Ready', observedGeneration: 1, x: 1 }), ready));
    expect(await count({ engine: 'postgres', result: 'Ready' })).toBe(1);

    // A Degraded observation of the new generation (a transient failure) keeps it pending.
    const edited = db('a', 2, { phase: 'Ready', observedGeneration: 1 });
    m.informerEvent(event('update', edited, ready));
    const degraded = db('a', 2, { phase: 'Degraded', observedGeneration: 2 });
    m.informerEvent(event('update', degraded, edited));
    expect(await count()).toBe(1);
    const failed = db('a', 2, {
      phase: 'Failed',
      observedGeneration: 2,
      conditions: [{ type: 'Ready', status: 'False', reason: 'UnsupportedVersion' }],
    });
    m.informerEvent(event('update', failed, degraded));
    expect(await count({ result: 'Failed' })).toBe(1);
    expect(await value(m, 'durable_workflow_failures_total', { reason: 'UnsupportedVersion' })).toBe(1);
    // Staying Failed is not a new failure; a restart's list (add) of a Failed Database neither.
    m.informerEvent(event('update', { ...failed, status: { ...(failed.status as object), y: 1 } }, failed));
    m.informerEvent(event('add', failed));
    expect(await value(m, 'durable_workflow_failures_total')).toBe(1);
  });

  it('drops what it waits for when the Database is deleted or being deleted', async () => {
    const m = new WatcherMetrics({ defaultMetrics: false });
    m.informerEvent(event('add', db('b', 1)));
    m.informerEvent(event('delete', db('b', 1)));
    m.informerEvent(event('add', db('b', 1, { phase: 'Ready', observedGeneration: 1 })));
    const c = await m.reconcileLatency.get();
    expect(c.values.filter((v) => v.metricName?.endsWith('_count'))).toHaveLength(0);
  });

  it('counts informer events by resource and type, and bounds label values', async () => {
    const m = new WatcherMetrics({ defaultMetrics: false });
    m.informerEvent({ informer: 'statefulsets/*', type: 'update', object: {} });
    m.informerEvent({ informer: 'widgets/shop', type: 'add', object: {} });
    expect(await value(m, 'durable_watcher_events_total', { resource: 'statefulsets', type: 'update' })).toBe(
      1,
    );
    expect(await value(m, 'durable_watcher_events_total', { resource: 'other' })).toBe(1);
    expect(identifierLabel('Http409')).toBe('Http409');
    expect(identifierLabel('spaces are not a reason')).toBe('Other');
    expect(identifierLabel('x'.repeat(100))).toBe('Other');
    expect(identifierLabel(undefined)).toBe('Other');
  });

  it('reports Databases by engine and phase, and the leader, from its source at scrape time', async () => {
    const m = new WatcherMetrics({ defaultMetrics: false });
    let leader = false;
    const items: DatabaseLike[] = [
      db('1', 1, { phase: 'Ready' }),
      db('2', 1, { phase: 'Ready' }, 'mysql'),
      db('3', 1),
      db('4', 1, { phase: 'Exploded' }, 'oracle'),
    ];
    m.attach({ status: () => ({ leader }), databases: () => items });
    const text = await m.registry.metrics();
    expect(text).toContain('durable_databases{engine="postgres",phase="Ready",component="watcher"} 1');
    expect(text).toContain('durable_databases{engine="mysql",phase="Ready",component="watcher"} 1');
    expect(text).toContain('durable_databases{engine="postgres",phase="Pending",component="watcher"} 1');
    expect(text).toContain('durable_databases{engine="unknown",phase="Unknown",component="watcher"} 1');
    expect(text).toContain('durable_databases{engine="mysql",phase="Failed",component="watcher"} 0');
    expect(text).toContain('durable_watcher_leader{component="watcher"} 0');
    leader = true;
    expect(await m.registry.metrics()).toContain('durable_watcher_leader{component="watcher"} 1');
  });

  it('counts signal calls and their latency', async () => {
    const m = new WatcherMetrics({ defaultMetrics: false });
    m.signal('spec', 'sent', 0.02);
    m.signal('drift', 'no-workflow', 0.01);
    const text = await m.registry.metrics();
    expect(text).toContain('durable_watcher_signals_total{kind="spec",result="sent",component="watcher"} 1');
    expect(text).toContain(
      'durable_watcher_signal_latency_seconds_count{component="watcher",kind="drift"} 1',
    );
  });
});

describe('readiness check cache', () => {
  it('shares one request among concurrent callers and keeps the result, failures too, for its ttl', async () => {
    let calls = 0;
    let result: CheckResult = { ok: false, message: 'down' };
    const check = cached(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      return result;
    }, 200);
    const [a, b] = await Promise.all([check(), check()]);
    expect(calls).toBe(1);
    expect(a).toBe(b);
    expect(a).toMatchObject({ ok: false, message: 'down', checkedAt: expect.any(String) });
    result = { ok: true };
    expect(await check()).toMatchObject({ ok: false });
    await new Promise((r) => setTimeout(r, 250));
    expect(await check()).toMatchObject({ ok: true });
    expect(calls).toBe(2);
  });
});

describe('observability HTTP server', () => {
  it('does not fail when its port is taken, and binds once it is free', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const m = new WatcherMetrics({ defaultMetrics: false });
    const server = await startObservabilityServer({
      host: '127.0.0.1',
      port,
      component: 'watcher',
      registry: m.registry,
      logger: silent,
      retryBindMs: 50,
      liveness: () => ({ ok: true, checks: {} }),
      readiness: () => ({ ok: false, checks: { x: { ok: false } }, details: { leader: false } }),
    });
    try {
      expect(server.port).toBeUndefined();
      await new Promise<void>((r) => blocker.close(() => r()));
      for (let i = 0; i < 100 && server.port === undefined; i++) await new Promise((r) => setTimeout(r, 20));
      expect(server.port).toBe(port);
      const head = await fetch(`${server.url}/healthz`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({
        status: 'unavailable',
        component: 'watcher',
        leader: false,
        checks: { x: { ok: false } },
      });
    } finally {
      await server.close();
    }
    expect(server.port).toBeUndefined();
  });
});

describe('log attributes', () => {
  it('derives the Database from the workflow ID', () => {
    expect(databaseOfWorkflowId('database/shop/orders-db')).toBe('shop/orders-db');
    expect(databaseOfWorkflowId('backup/shop/nightly')).toBeUndefined();
    expect(databaseOfWorkflowId(undefined)).toBeUndefined();
  });
});
