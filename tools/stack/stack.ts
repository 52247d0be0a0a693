import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { repoRoot } from './binaries';
import { claimRealNodes, cleanHost, cleanStaleClaim, NETWORK, openLedger, setUpNetwork } from './host';
import { startKubernetes, type KubernetesInfo } from './kubernetes';
import { LocalPathProvisioner } from './local-path-provisioner';
import { createNodePki } from './node-pki';
import {
  nodeName,
  startCoreDns,
  startKubeProxy,
  startRealNodes,
  waitNodesReady,
  type RealNodeInfo,
} from './nodes';
import { ObjectStore, type ObjectStoreInfo } from './object-store';
import { serveControl } from './control';
import { isAlive, ProcessGroup, reapStale } from './processes';
import { startTemporal, type TemporalInfo } from './temporal';

/** What a running stack offers; written to <dir>/stack.json for other processes (tests, CLI). */
export interface StackInfo {
  dir: string;
  kubernetes: KubernetesInfo;
  temporal: TemporalInfo;
  /** The real worker nodes (kubelet + containerd each); empty with --nodes 0. */
  realNodes: RealNodeInfo[];
  /**
   * The cluster DNS server (CoreDNS), `ip:53`: what pods use, and what a process on the machine
   * sets as CLUSTER_DNS to resolve members' names (`<pod>.<db>-headless.<ns>.svc`).
   */
  clusterDns?: string;
  /** The S3-compatible object store (versitygw) for S3 backups; see object-store.ts. */
  objectStore: ObjectStoreInfo;
  startedInMs: number;
}

export interface StackOptions {
  /** Name of the stack directory under the stacks root (.stack/ by default). */
  name: string;
  /** Simulated (kwok) nodes, for scale tests; tainted so that ordinary pods avoid them. */
  nodes?: number;
  /** Real nodes (kubelet + containerd), 0..3. Only one stack per machine may run real nodes. */
  realNodes?: number;
  persist?: boolean;
  log?: (msg: string) => void;
}

export const stacksRoot = process.env.DURABLE_STACK_ROOT ?? path.join(repoRoot, '.stack');
export const MAX_REAL_NODES = 3;
/** The real nodes' containerd roots, kept across stacks so that images are imported once. */
const nodeImagesDir = path.join(stacksRoot, '.node-images');

export class Stack {
  private constructor(
    readonly info: StackInfo,
    private readonly procs: ProcessGroup,
    private readonly provisioner: LocalPathProvisioner,
    readonly objectStore: ObjectStore,
    private readonly control: http.Server,
  ) {}

  /**
   * Starts Temporal and Kubernetes side by side, then the real nodes. Leftovers of crashed earlier
   * stacks (processes, and with real nodes every host change) are cleaned up first; if any part
   * fails to start, everything already started is stopped and undone again.
   */
  static async start(opts: StackOptions): Promise<Stack> {
    const log = opts.log ?? ((msg: string) => process.stderr.write(`[stack] ${msg}\n`));
    const started = Date.now();
    const realCount = opts.realNodes ?? MAX_REAL_NODES;
    if (!Number.isInteger(realCount) || realCount < 0 || realCount > MAX_REAL_NODES) {
      throw new Error(`real nodes must be 0..${MAX_REAL_NODES}, not ${realCount}`);
    }
    const reaped = reapStale(stacksRoot);
    if (reaped.length) log(`reaped processes of a crashed earlier stack: ${reaped.join(', ')}`);
    const staleHost = cleanStaleClaim(isAlive);
    if (staleHost) log(`undid the host changes of a crashed stack in ${staleHost}`);

    const dir = path.join(stacksRoot, opts.name);
    const owner = runningSupervisor(dir);
    if (owner) throw new Error(`a stack named "${opts.name}" is already running (supervisor pid ${owner})`);
    // Our own leftovers too (mounts under the directory must go before the directory does).
    cleanHost(dir);
    if (!opts.persist) fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'supervisor.pid'), String(process.pid));
    const procs = new ProcessGroup(dir, path.join(dir, 'logs'));
    const names = Array.from({ length: realCount }, (_, i) => nodeName(i));
    try {
      let nodePki;
      if (realCount > 0) {
        claimRealNodes(dir, isAlive);
        setUpNetwork(openLedger(dir, realCount, [nodeImagesDir]), realCount);
        nodePki = createNodePki(path.join(dir, 'pki', 'nodes'), [NETWORK.controlPlaneIp, '10.96.0.1']);
      }
      const [temporal, cp, objectStore] = await Promise.all([
        startTemporal(procs, {
          dir,
          persist: opts.persist ?? false,
          podIp: nodePki ? NETWORK.controlPlaneIp : undefined,
          log,
        }),
        startKubernetes(procs, {
          dir,
          nodes: opts.nodes ?? 3,
          realNodes: nodePki && { names, pki: nodePki },
          log,
        }),
        // Where the API server listens: pods on the real nodes reach the control plane's address.
        ObjectStore.start(procs, {
          dir,
          ip: nodePki ? NETWORK.controlPlaneIp : '127.0.0.1',
          persist: opts.persist ?? false,
          log,
        }),
      ]);
      const kubernetes = cp.info;
      const api = { server: kubernetes.server, token: cp.pki.adminToken };
      const provisioner = new LocalPathProvisioner(api, path.join(dir, 'volumes'), log).start();
      let realNodes: RealNodeInfo[] = [];
      let clusterDns: string | undefined;
      if (nodePki) {
        const dns = await startCoreDns(procs, { dir, kubeconfig: kubernetes.kubeconfig });
        clusterDns = dns.address;
        const proxy = await startKubeProxy(procs, {
          dir,
          server: kubernetes.server,
          caFile: cp.caFile,
          token: cp.pki.kubeProxyToken,
        });
        log(`${realCount} real nodes (containerd + kubelet each), importing the images`);
        realNodes = await startRealNodes(procs, {
          dir,
          count: realCount,
          server: kubernetes.server,
          caFile: cp.caFile,
          nodeTokens: cp.pki.nodeTokens,
          pki: nodePki,
          clusterDns: clusterDns.split(':')[0]!,
          imageCacheDir: nodeImagesDir,
          log,
        });
        await waitNodesReady(kubernetes.kubeconfig, names, procs);
        await proxy.ready();
      }
      const info: StackInfo = {
        dir,
        temporal,
        kubernetes,
        realNodes,
        clusterDns,
        objectStore: objectStore.info,
        startedInMs: Date.now() - started,
      };
      const control = await serveControl(dir, {
        'object-store/stop': () => objectStore.halt(),
        'object-store/start': () => objectStore.resume(),
      });
      fs.writeFileSync(path.join(dir, 'stack.json'), JSON.stringify(info, null, 2));
      log(`ready in ${(info.startedInMs / 1000).toFixed(1)} s; logs in ${path.join(dir, 'logs')}`);
      return new Stack(info, procs, provisioner, objectStore, control);
    } catch (err) {
      log(`start failed, stopping what started: ${err instanceof Error ? err.message : String(err)}`);
      await procs.stopAll(2_000);
      for (const undone of cleanHost(dir)) log(`host: ${undone}`);
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.control.close();
    this.provisioner.stop();
    // Kubelets and containerds first (reverse start order), then what they leave on the host.
    await this.procs.stopAll();
    for (const undone of cleanHost(this.info.dir)) process.stderr.write(`[stack] host: ${undone}\n`);
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
