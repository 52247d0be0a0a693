import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('applies defaults for a bare environment', () => {
    const cfg = loadConfig({});
    expect(cfg).toMatchObject({
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'durable-db-operator',
      WATCH_NAMESPACES: [],
      LOG_LEVEL: 'info',
      LEADER_ELECTION_ENABLED: true,
    });
  });

  it('parses lists and booleans, and treats empty strings as unset', () => {
    const cfg = loadConfig({
      WATCH_NAMESPACES: 'shop, payments,,',
      LEADER_ELECTION_ENABLED: 'false',
      LOG_LEVEL: '',
    });
    expect(cfg.WATCH_NAMESPACES).toEqual(['shop', 'payments']);
    expect(cfg.LEADER_ELECTION_ENABLED).toBe(false);
    expect(cfg.LOG_LEVEL).toBe('info');
  });

  it('sizes the worker with documented defaults, and lets one workflow task run alone without a cache', () => {
    expect(loadConfig({})).toMatchObject({
      WORKER_MAX_CACHED_WORKFLOWS: 100,
      WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: 10,
      WORKER_MAX_CONCURRENT_ACTIVITIES: 100,
    });
    const uncached = loadConfig({
      WORKER_MAX_CACHED_WORKFLOWS: '0',
      WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1',
    });
    expect(uncached.WORKER_MAX_CACHED_WORKFLOWS).toBe(0);
    expect(uncached.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS).toBe(1);
  });

  it.each([
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ WATCH_NAMESPACES: 'Shop_1' }, 'not a valid namespace name'],
    [{ TEMPORAL_UI_URL: 'not a url' }, 'TEMPORAL_UI_URL'],
    [{ LEADER_ELECTION_ENABLED: 'yes' }, 'LEADER_ELECTION_ENABLED'],
    [{ TEMPORAL_TLS_CERT: '/tls/crt.pem' }, 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together'],
    [{ WORKER_MAX_CACHED_WORKFLOWS: 'many' }, 'WORKER_MAX_CACHED_WORKFLOWS'],
    [{ WORKER_MAX_CONCURRENT_ACTIVITIES: '0' }, 'WORKER_MAX_CONCURRENT_ACTIVITIES'],
    [
      { WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' },
      'at least 2 while WORKER_MAX_CACHED_WORKFLOWS is above 0',
    ],
  ])('rejects %j naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
