import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeKeys } from '../../workflows/search-attributes';
import { binary } from './binaries';
import { freePorts } from './ports';
import type { ProcessGroup } from './processes';
import { waitFor } from './wait';

export interface TemporalInfo {
  /** gRPC frontend, host:port */
  address: string;
  namespace: string;
  uiUrl: string;
  /**
   * With real nodes: where pods reach the frontend (the control plane's address, forwarded to
   * loopback by tcp-forward.js), e.g. the operator installed with the chart.
   */
  podAddress?: string;
}

export interface TemporalOptions {
  dir: string;
  /** Keep workflow state in a SQLite file across restarts of the dev server. */
  persist: boolean;
  log: (msg: string) => void;
  /** Without the Web UI (tests that only need the frontend). */
  headless?: boolean;
  /** An address of the machine the pods reach (the control plane's): the frontend is forwarded there. */
  podIp?: string;
}

const KEYWORD = 'Keyword';

/** Starts `temporal server start-dev` (server + UI) with the operator's search attributes. */
export async function startTemporal(procs: ProcessGroup, opts: TemporalOptions): Promise<TemporalInfo> {
  const [port, uiPort, httpPort, metricsPort] = await freePorts(4);
  const namespace = 'default';
  const args = [
    'server',
    'start-dev',
    '--ip=127.0.0.1',
    `--port=${port}`,
    `--ui-port=${uiPort}`,
    `--http-port=${httpPort}`,
    `--metrics-port=${metricsPort}`,
    `--namespace=${namespace}`,
    '--log-level=warn',
    ...searchAttributeKeys.map((k) => `--search-attribute=${k.name}=${KEYWORD}`),
  ];
  if (opts.persist) args.push(`--db-filename=${path.join(opts.dir, 'temporal.db')}`);
  if (opts.headless) args.push('--headless');
  const address = `127.0.0.1:${port}`;
  opts.log(`Temporal dev server on ${address}${opts.headless ? '' : `, UI on http://127.0.0.1:${uiPort}`}`);
  procs.start('temporal', binary('temporal'), args);

  await waitFor(
    'Temporal frontend with search attributes',
    async () => {
      procs.assertRunning('temporal');
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
        return searchAttributeKeys.every((k) => customAttributes?.[k.name] !== undefined);
      } finally {
        await connection.close();
      }
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  const info: TemporalInfo = { address, namespace, uiUrl: `http://127.0.0.1:${uiPort}` };
  if (opts.podIp) {
    info.podAddress = `${opts.podIp}:${port}`;
    procs.start('temporal-pods', process.execPath, [
      path.join(__dirname, 'tcp-forward.js'),
      info.podAddress,
      address,
    ]);
    opts.log(`Temporal for pods on ${info.podAddress}`);
    await waitFor(
      'Temporal forwarded for pods',
      async () => {
        procs.assertRunning('temporal-pods');
        const connection = await Connection.connect({ address: info.podAddress, connectTimeout: 2_000 });
        await connection.close();
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }
  return info;
}
