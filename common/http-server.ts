import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { CheckResult } from './health';
import type { Logger } from './logger';
import type { Component } from './metrics';

/**
 * The one small HTTP server of each operator process (HTTP_HOST:HTTP_PORT, default 0.0.0.0:8080):
 *
 * - `GET /metrics`  Prometheus text format (the process's prom-client registry);
 * - `GET /healthz`  liveness: the event loop answers and the process's main loop is alive;
 * - `GET /readyz`   readiness: what the process depends on is reachable.
 *
 * Probes answer 200 or 503 with a small JSON body naming each check. Failing to bind is logged
 * and retried in the background rather than fatal: the operator keeps reconciling, and the
 * failing probes make the problem visible where it matters.
 */

export interface ProbeReport {
  ok: boolean;
  checks: Record<string, CheckResult>;
  /** Further top-level fields of the body, e.g. `leader` for the watcher. */
  details?: Record<string, unknown>;
}

export interface ObservabilityServerOptions {
  host: string;
  /** 0: a free port, see `port` once started. */
  port: number;
  component: Component;
  registry: Registry;
  liveness: () => ProbeReport | Promise<ProbeReport>;
  readiness: () => ProbeReport | Promise<ProbeReport>;
  logger: Logger;
  /** Delay between bind attempts after a failure. Default 5 s. */
  retryBindMs?: number;
}

export interface ObservabilityServer {
  /** The bound port (the actual one when 0 was asked for); undefined while not bound. */
  readonly port: number | undefined;
  /** `http://<host>:<port>` for local clients (tests), undefined while not bound. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Starts serving; resolves once bound, or after the first failed attempt (retried in the background). */
export async function startObservabilityServer(
  opts: ObservabilityServerOptions,
): Promise<ObservabilityServer> {
  const log = opts.logger.child({ part: 'http' });
  const server = http.createServer((req, res) => {
    void handle(opts, req, res).catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.message : String(err), path: req.url }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': JSON_TYPE });
      res.end(JSON.stringify({ status: 'error' }));
    });
  });
  server.on('error', (err) => {
    if (bound !== undefined) log.error({ err: err.message }, 'HTTP server error');
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  let bound: number | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failedBefore = false;

  const listen = () =>
    new Promise<void>((resolve) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        if (!failedBefore) {
          log.error(
            { err: err.message, code: err.code, host: opts.host, port: opts.port },
            'cannot serve /metrics, /healthz and /readyz; retrying in the background',
          );
        }
        failedBefore = true;
        if (!closed) {
          retryTimer = setTimeout(() => void listen(), opts.retryBindMs ?? 5_000);
          retryTimer.unref();
        }
        resolve();
      };
      const onListening = () => {
        server.off('error', onError);
        bound = (server.address() as AddressInfo).port;
        log.info(
          { host: opts.host, port: bound, paths: ['/metrics', '/healthz', '/readyz'] },
          'serving metrics and probes',
        );
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(opts.port, opts.host);
    });
  await listen();

  const urlHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  return {
    get port() {
      return bound;
    },
    get url() {
      return bound === undefined
        ? undefined
        : `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${bound}`;
    },
    close: async () => {
      closed = true;
      clearTimeout(retryTimer);
      if (bound === undefined) return;
      bound = undefined;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function handle(
  opts: ObservabilityServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': JSON_TYPE });
    res.end(JSON.stringify({ status: 'method not allowed' }));
    return;
  }
  const head = req.method === 'HEAD';
  switch (path) {
    case '/metrics': {
      const body = await opts.registry.metrics();
      res.writeHead(200, { 'content-type': opts.registry.contentType, 'cache-control': 'no-store' });
      res.end(head ? undefined : body);
      return;
    }
    case '/healthz':
    case '/readyz': {
      const report = await (path === '/healthz' ? opts.liveness() : opts.readiness());
      const body = JSON.stringify({
        status: report.ok ? 'ok' : 'unavailable',
        component: opts.component,
        ...report.details,
        checks: report.checks,
      });
      res.writeHead(report.ok ? 200 : 503, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' });
      res.end(head ? undefined : body);
      return;
    }
    default:
      res.writeHead(404, { 'content-type': JSON_TYPE });
      res.end(
        head
          ? undefined
          : JSON.stringify({ status: 'not found', paths: ['/metrics', '/healthz', '/readyz'] }),
      );
  }
}
