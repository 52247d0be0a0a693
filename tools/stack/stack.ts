import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './binaries';
import { EngineRuntime, type EngineRuntimeInfo } from './engine-runtime';
import { startKubernetes, type KubernetesInfo } from './kubernetes';
import { isAlive, ProcessGroup, reapStale } from './processes';
import { startTemporal, type TemporalInfo } from './temporal';

/** What a running stack offers; written to <dir>/stack.json for other processes (tests, CLI). */
export interface StackInfo {
  dir: string;
  kubernetes: KubernetesInfo;
  temporal: TemporalInfo;
  /** The database pods' engines, run as local processes (see engine-runtime.ts). */
  engines: EngineRuntimeInfo;
  startedInMs: number;
}

export interface StackOptions {
  /** Name of the stack directory under the stacks root (.stack/ by default). */
  name: string;
  nodes?: number;
  persist?: boolean;
  log?: (msg: string) => void;
}

export const stacksRoot = process.env.DURABLE_STACK_ROOT ?? path.join(repoRoot, '.stack');

export class Stack {
  private constructor(
    readonly info: StackInfo,
    private readonly procs: ProcessGroup,
    private readonly engines: EngineRuntime,
  ) {}

  /**
   * Starts Temporal and Kubernetes side by side. Leftovers of crashed earlier stacks are reaped
   * first; if any part fails to start, everything already started is stopped again.
   */
  static async start(opts: StackOptions): Promise<Stack> {
    const log = opts.log ?? ((msg: string) => process.stderr.write(`[stack] ${msg}\n`));
    const started = Date.now();
    const reaped = reapStale(stacksRoot);
    if (reaped.length) log(`reaped processes of a crashed earlier stack: ${reaped.join(', ')}`);

    const dir = path.join(stacksRoot, opts.name);
    const owner = runningSupervisor(dir);
    if (owner) throw new Error(`a stack named "${opts.name}" is already running (supervisor pid ${owner})`);
    if (!opts.persist) fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'supervisor.pid'), String(process.pid));
    const procs = new ProcessGroup(dir, path.join(dir, 'logs'));
    try {
      const [temporal, kubernetes] = await Promise.all([
        startTemporal(procs, { dir, persist: opts.persist ?? false, log }),
        startKubernetes(procs, { dir, nodes: opts.nodes ?? 3, log }),
      ]);
      // Watches the API from here on; it never fails the start, it logs and retries instead.
      const engines = EngineRuntime.start({ stackDir: dir, kubeconfig: kubernetes.kubeconfig });
      const info: StackInfo = {
        dir,
        temporal,
        kubernetes,
        engines: engines.info,
        startedInMs: Date.now() - started,
      };
      fs.writeFileSync(path.join(dir, 'stack.json'), JSON.stringify(info, null, 2));
      log(`ready in ${(info.startedInMs / 1000).toFixed(1)} s; logs in ${path.join(dir, 'logs')}`);
      return new Stack(info, procs, engines);
    } catch (err) {
      log(`start failed, stopping what started: ${err instanceof Error ? err.message : String(err)}`);
      await procs.stopAll(2_000);
      throw err;
    }
  }

  async stop(): Promise<void> {
    // Engines first, while the API they watch is still there.
    await this.engines.stop();
    await this.procs.stopAll();
    fs.rmSync(path.join(this.info.dir, 'stack.json'), { force: true });
  }
}

function runningSupervisor(dir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, 'supervisor.pid'), 'utf8'));
    return pid && pid !== process.pid && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the description of a running stack written by Stack.start. */
export function readStackInfo(file: string): StackInfo {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as StackInfo;
}
