import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { builtImages, type ImageArchive } from '../images';
import { binary, kubectlPath } from './binaries';
import { makeCgroupRoot, NETWORK } from './host';
import { writeKubeconfig } from './kubeconfig';
import { kubeletServingCert, type NodePki } from './node-pki';
import { freePorts } from './ports';
import type { ProcessGroup } from './processes';
import { waitFor } from './wait';

const run = promisify(execFile);

/** containerd's pod sandbox image; the image build makes it (a static pause program). */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/** Label every real node carries (kwok nodes carry type=kwok and a taint). */
export const REAL_NODE_LABEL = 'durable.dev/node-kind';

export interface RealNodeInfo {
  name: string;
  ip: string;
  /** containerd's socket, for `ctr --address … -n k8s.io` (images, tasks). */
  containerdSocket: string;
  /** The kubelet's pid file, so a test can stop and start it (a node partition). */
  kubeletProcess: string;
  podSubnet: string;
}

export interface RealNodesOptions {
  dir: string;
  count: number;
  server: string;
  caFile: string;
  /** Token of each kubelet's node identity, by node name (Node authorizer: system:node:<name>). */
  nodeTokens: Record<string, string>;
  pki: NodePki;
  clusterDns: string;
  /**
   * Where each node's containerd keeps its root (images, snapshots): outside the stack directory,
   * so that the images imported once stay for the next stack.
   */
  imageCacheDir: string;
  log: (msg: string) => void;
}

export const nodeName = (i: number) => `node-${i}`;

/**
 * Starts the real worker nodes: per node a containerd (own root, state, socket, CNI config for a
 * bridge of its own) with the stack's images imported, and a kubelet (own root dir, ports, cgroup
 * root, serving certificate); they register with the API server as node-0, node-1, … .
 */
export async function startRealNodes(procs: ProcessGroup, opts: RealNodesOptions): Promise<RealNodeInfo[]> {
  const images = builtImages();
  const nodes: RealNodeInfo[] = [];
  await Promise.all(
    Array.from({ length: opts.count }, async (_, i) => {
      const name = nodeName(i);
      const dir = path.join(opts.dir, 'nodes', name);
      fs.mkdirSync(dir, { recursive: true });
      const root = path.join(opts.imageCacheDir, name, 'containerd');
      let socket = await startContainerd(procs, dir, root, i);
      // The root (images) outlives the stack; the containers of an earlier stack on it do not.
      if (await pruneContainers(socket)) {
        await procs.stop(`containerd-${name}`);
        socket = await startContainerd(procs, dir, root, i);
      }
      const started = Date.now();
      const imported = await importImages(socket, path.join(root, '..', 'imported.json'), images);
      if (imported.length) {
        opts.log(
          `${name}: imported ${imported.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
      }
      await startKubelet(procs, opts, dir, i, socket);
      nodes[i] = {
        name,
        ip: NETWORK.nodeIp(i),
        containerdSocket: socket,
        kubeletProcess: `kubelet-${name}`,
        podSubnet: NETWORK.nodeSubnet(i),
      };
    }),
  );
  return nodes;
}

/**
 * Imports the images whose archive changed since the last import into this root (by the build's
 * content key), so that a warm start imports nothing; the record is written after each import.
 */
async function importImages(socket: string, recordFile: string, images: ImageArchive[]): Promise<string[]> {
  let record: Record<string, string> = {};
  try {
    record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as Record<string, string>;
  } catch {
    // First import into this root.
  }
  const { stdout } = await run('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'ls', '-q']);
  const present = new Set(stdout.split('\n'));
  const done: string[] = [];
  for (const image of images) {
    if (record[image.file] === image.key && image.refs.every((r) => present.has(r))) continue;
    await run('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', image.file], {
      maxBuffer: 16 * 1024 * 1024,
    });
    record[image.file] = image.key;
    fs.writeFileSync(recordFile, JSON.stringify(record, null, 2));
    done.push(path.basename(image.file, '.tar'));
  }
  return done;
}

/**
 * Removes the containers (pod sandboxes included) an earlier stack left in a kept containerd root;
 * true when there were any (containerd's CRI then needs a restart to forget them).
 */
async function pruneContainers(socket: string): Promise<boolean> {
  const ctr = (...args: string[]) => run('ctr', ['--address', socket, '-n', 'k8s.io', ...args]);
  const ids = (await ctr('containers', 'ls', '-q')).stdout.split('\n').filter(Boolean);
  for (const id of ids) {
    await ctr('tasks', 'kill', '-s', 'SIGKILL', id).catch(() => undefined);
    await ctr('tasks', 'rm', '-f', id).catch(() => undefined);
    await ctr('containers', 'rm', id).catch(() => undefined);
  }
  return ids.length > 0;
}

async function startContainerd(procs: ProcessGroup, dir: string, root: string, i: number): Promise<string> {
  const name = nodeName(i);
  const state = path.join(dir, 'containerd-state');
  const cniConf = path.join(dir, 'cni');
  const socket = path.join(dir, 'containerd.sock');
  for (const d of [root, state, cniConf]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(
    path.join(cniConf, '10-bridge.conflist'),
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: `durable-${name}`,
        plugins: [
          {
            type: 'bridge',
            bridge: NETWORK.nodeBridge(i),
            isGateway: true,
            // No masquerade: nothing from a pod is meant to leave the machine (the guard drops it).
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: NETWORK.nodeSubnet(i), gateway: NETWORK.nodeIp(i) }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: path.join(dir, 'cni-ipam'),
            },
          },
        ],
      },
      null,
      2,
    ),
  );
  const config = path.join(dir, 'containerd.toml');
  fs.writeFileSync(config, containerdConfig({ root, state, socket, cniConf }));
  procs.start(`containerd-${name}`, 'containerd', ['--config', config]);
  await waitFor(
    `containerd of ${name}`,
    async () => {
      procs.assertRunning(`containerd-${name}`);
      await run('ctr', ['--address', socket, 'version']);
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  return socket;
}

/**
 * containerd for one node. `restrict_oom_score_adj`: this VM drops CAP_SYS_RESOURCE, so without it
 * every sandbox fails to start (REAL-NODE.md). Registries resolve to a closed local port: every
 * image a pod names must already be imported, as `imagePullPolicy: IfNotPresent` expects, and a
 * missing one fails at once (ErrImagePull) instead of reaching for the internet.
 */
function containerdConfig(p: { root: string; state: string; socket: string; cniConf: string }): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const mirrors = ['docker.io', 'registry.k8s.io', 'quay.io', 'ghcr.io', 'gcr.io', 'localhost']
    .map((r) => `[${cri}.registry.mirrors."${r}"]\n  endpoint = ["http://127.0.0.1:9"]`)
    .join('\n');
  return `version = 2
root = ${JSON.stringify(p.root)}
state = ${JSON.stringify(p.state)}
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${JSON.stringify(p.socket)}
[ttrpc]
  address = ${JSON.stringify(`${p.socket}.ttrpc`)}
[metrics]
  address = ""

[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = false
[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = ${JSON.stringify(path.join(p.state, 'runc'))}
[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = ${JSON.stringify(p.cniConf)}
${mirrors}
`;
}

async function startKubelet(
  procs: ProcessGroup,
  opts: RealNodesOptions,
  dir: string,
  i: number,
  socket: string,
): Promise<void> {
  const name = nodeName(i);
  const ip = NETWORK.nodeIp(i);
  const [port, healthzPort] = await freePorts(2);
  const serving = kubeletServingCert(opts.pki, dir, name, ip);
  const kubeconfig = path.join(dir, 'kubelet.kubeconfig');
  writeKubeconfig(kubeconfig, opts.server, opts.caFile, `system:node:${name}`, opts.nodeTokens[name]!);
  const cgroupRoot = `durable-n${i}`;
  makeCgroupRoot(cgroupRoot);
  // No upstream resolvers for pods with dnsPolicy Default: names outside the cluster go nowhere.
  const resolvConf = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolvConf, '');
  const config = path.join(dir, 'kubelet.yaml');
  fs.writeFileSync(
    config,
    YAML.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: ip,
      port,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort,
      tlsCertFile: serving.cert,
      tlsPrivateKeyFile: serving.key,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: opts.pki.caCert },
      },
      authorization: { mode: 'Webhook' },
      containerRuntimeEndpoint: `unix://${socket}`,
      cgroupDriver: 'cgroupfs',
      cgroupsPerQOS: true,
      cgroupRoot: `/${cgroupRoot}`,
      clusterDomain: 'cluster.local',
      clusterDNS: [opts.clusterDns],
      resolvConf,
      failSwapOn: false,
      // Several kubelets share one disk and one kernel: small free space or memory pressure on the
      // machine is no reason to evict test databases, and images must never be collected (none
      // can be pulled back).
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      // Pods notice status changes sooner; the defaults (10 s) suit big clusters, not tests.
      nodeStatusUpdateFrequency: '4s',
      syncFrequency: '10s',
      fileCheckFrequency: '20s',
      maxPods: 60,
      // Pod logs under the node's directory, not the host's /var/log/pods.
      podLogsDir: path.join(dir, 'pod-logs'),
      containerLogMaxSize: '10Mi',
      containerLogMaxFiles: 2,
      shutdownGracePeriod: '0s',
    }),
  );
  procs.start(`kubelet-${name}`, binary('kubelet'), [
    `--config=${config}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${path.join(dir, 'kubelet')}`,
    `--hostname-override=${name}`,
    `--node-ip=${ip}`,
    `--node-labels=${REAL_NODE_LABEL}=real,topology.kubernetes.io/zone=zone-${i % 3}`,
    '--v=1',
  ]);
}

/**
 * kube-proxy in iptables mode: one per host, since it owns the host's KUBE-* chains. It waits for
 * its Node object (node-0) before it serves health: await the returned `ready` once the nodes
 * registered.
 */
export async function startKubeProxy(
  procs: ProcessGroup,
  opts: { dir: string; server: string; caFile: string; token: string },
): Promise<{ ready: () => Promise<void> }> {
  const [metricsPort, healthzPort] = await freePorts(2);
  const kubeconfig = path.join(opts.dir, 'kube-proxy.kubeconfig');
  writeKubeconfig(kubeconfig, opts.server, opts.caFile, 'system:kube-proxy', opts.token);
  const config = path.join(opts.dir, 'kube-proxy.yaml');
  fs.writeFileSync(
    config,
    YAML.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      clientConnection: { kubeconfig },
      hostnameOverride: nodeName(0),
      clusterCIDR: NETWORK.podRange,
      bindAddress: '127.0.0.1',
      metricsBindAddress: `127.0.0.1:${metricsPort}`,
      healthzBindAddress: `127.0.0.1:${healthzPort}`,
      // Node ports only on the nodes' own addresses, never on the machine's other interfaces.
      nodePortAddresses: [NETWORK.podRange],
      // Leave the host's conntrack sysctls alone.
      conntrack: { maxPerCore: 0, min: 0 },
      iptables: { syncPeriod: '30s', minSyncPeriod: '0s' },
    }),
  );
  procs.start('kube-proxy', binary('kube-proxy'), [`--config=${config}`, '--v=1']);
  const ready = () =>
    waitFor(
      'kube-proxy healthz',
      async () => {
        procs.assertRunning('kube-proxy');
        const res = await fetch(`http://127.0.0.1:${healthzPort}/healthz`);
        return res.ok;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    ).then(() => undefined);
  return { ready };
}

/**
 * CoreDNS as a process of the stack, on the control-plane bridge's address: cluster names from the
 * kubernetes plugin (Services, headless members as `<pod>.<service>.<ns>.svc.cluster.local`),
 * and NXDOMAIN for every other name: no `forward`, nothing leaves the machine.
 */
export async function startCoreDns(
  procs: ProcessGroup,
  opts: { dir: string; kubeconfig: string },
): Promise<{ address: string }> {
  const [healthPort] = await freePorts(1);
  const file = path.join(opts.dir, 'Corefile');
  fs.writeFileSync(
    file,
    `cluster.local:53 in-addr.arpa:53 {
  bind ${NETWORK.controlPlaneIp}
  errors
  kubernetes cluster.local in-addr.arpa {
    kubeconfig ${opts.kubeconfig}
    pods insecure
    ttl 5
  }
  cache 5
  health 127.0.0.1:${healthPort}
}
.:53 {
  bind ${NETWORK.controlPlaneIp}
  template ANY ANY {
    rcode NXDOMAIN
  }
}
`,
  );
  procs.start('coredns', binary('coredns'), ['-conf', file]);
  await waitFor(
    'CoreDNS health',
    async () => {
      procs.assertRunning('coredns');
      return (await fetch(`http://127.0.0.1:${healthPort}/health`)).ok;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  return { address: `${NETWORK.controlPlaneIp}:53` };
}

/** Waits until every real node reports Ready. */
export async function waitNodesReady(
  kubeconfig: string,
  names: string[],
  procs: ProcessGroup,
): Promise<void> {
  await waitFor(
    `real nodes ${names.join(', ')} Ready`,
    async () => {
      for (const n of names) procs.assertRunning(`kubelet-${n}`);
      const { stdout } = await run(kubectlPath(), [
        `--kubeconfig=${kubeconfig}`,
        'get',
        'nodes',
        '-l',
        `${REAL_NODE_LABEL}=real`,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ]);
      const ready = new Set(
        stdout
          .split('\n')
          .filter((l) => l.endsWith('=True'))
          .map((l) => l.split('=')[0]),
      );
      return names.every((n) => ready.has(n));
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}
