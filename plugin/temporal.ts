import { Client, type Connection } from '@temporalio/client';
import { ConfigError, loadConfig, type OperatorConfig } from '../common/config';
import { connectClient } from '../common/temporal-connection';
import { UserError } from './output';

/**
 * Temporal as the operator reaches it: the same settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_UI_URL, the TLS and API-key variables; common/config.ts), the flags overriding the
 * first three. Errors say which address was tried and which setting changes it.
 */
export interface TemporalFlags {
  'temporal-address'?: string;
  'temporal-namespace'?: string;
  'temporal-ui'?: string;
}

export interface TemporalSettings {
  address: string;
  namespace: string;
  uiUrl?: string;
  config: OperatorConfig;
}

export function temporalSettings(
  flags: TemporalFlags,
  env: NodeJS.ProcessEnv = process.env,
): TemporalSettings {
  let config: OperatorConfig;
  try {
    config = loadConfig({
      ...env,
      ...(flags['temporal-address'] && { TEMPORAL_ADDRESS: flags['temporal-address'] }),
      ...(flags['temporal-namespace'] && { TEMPORAL_NAMESPACE: flags['temporal-namespace'] }),
      ...(flags['temporal-ui'] && { TEMPORAL_UI_URL: flags['temporal-ui'] }),
    });
  } catch (err) {
    if (err instanceof ConfigError)
      throw new UserError(err.message, 'fix the variable named, or override it by flag');
    throw err;
  }
  return {
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    uiUrl: config.TEMPORAL_UI_URL,
    config,
  };
}

export function unreachable(s: TemporalSettings, err: unknown): UserError {
  const why = err instanceof Error ? err.message : String(err);
  return new UserError(
    `cannot reach Temporal at ${s.address} (namespace ${s.namespace}): ${why}`,
    'set TEMPORAL_ADDRESS (or --temporal-address HOST:PORT) to the address the operator uses',
  );
}

export interface TemporalSession {
  client: Client;
  close: () => Promise<void>;
}

export async function connectTemporal(s: TemporalSettings, timeoutMs = 5_000): Promise<TemporalSession> {
  let connection: Connection;
  try {
    // The SDK retries a refused connection for a long while: a user waiting at a prompt would not.
    connection = await withTimeout(
      connectClient(s.config),
      timeoutMs,
      `no answer within ${timeoutMs / 1000}s`,
    );
  } catch (err) {
    throw unreachable(s, err);
  }
  return { client: new Client({ connection, namespace: s.namespace }), close: () => connection.close() };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The Temporal UI page of a workflow (the run's history when the run is known). */
export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
