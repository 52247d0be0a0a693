import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * What the real nodes change on the host, and how it is undone. Everything a stack with real
 * nodes changes outside its own directory is written down first, in a ledger file in the stack
 * directory, so that a stop, or the next start after a SIGKILL of the supervisor, can undo it
 * exactly: sysctls (restored to the values read before), links (bridges) and the veths on them,
 * iptables chains (kube-proxy's KUBE-*, our guard), cgroups (one root per node), mounts and network
 * namespaces (all under the stack directory: containerd mounts its netns under its state dir).
 *
 * The address plan is fixed: only one stack on a host runs real nodes (see claimRealNodes).
 */
export const NETWORK = {
  /** All pod subnets: node i has 10.88.i.0/24 on bridge durable-n<i>, gateway 10.88.i.1. */
  podRange: '10.88.0.0/16',
  /** The API server's Service range; kube-proxy maps it onto pods. */
  serviceRange: '10.96.0.0/16',
  /** A bridge of the control plane with no ports: API server and CoreDNS listen on its address. */
  controlPlaneBridge: 'durable-cp',
  controlPlaneIp: '10.88.255.1',
  nodeBridge: (i: number) => `durable-n${i}`,
  nodeIp: (i: number) => `10.88.${i}.1`,
  nodeSubnet: (i: number) => `10.88.${i}.0/24`,
  /** Prefix of every link the stack makes, and of every chain it adds. */
  linkPrefix: 'durable-',
  guardChain: 'DURABLE-GUARD',
} as const;

/** Sysctls kubelet and the bridge plugin change (REAL-NODE.md) and the pod network needs. */
const SYSCTLS = [
  'kernel/panic',
  'kernel/panic_on_oops',
  'vm/overcommit_memory',
  'net/ipv4/ip_forward',
  'net/bridge/bridge-nf-call-iptables',
];

/** Cgroup v1 controllers a kubelet with the cgroupfs driver makes its root in. */
const CGROUP_BASE = '/sys/fs/cgroup';

export interface HostLedger {
  stackDir: string;
  /** Directories under which the nodes mount (the stack's own, and the kept containerd roots). */
  mountRoots: string[];
  sysctls: Record<string, string>;
  cgroupRoots: string[];
  links: string[];
}

const ledgerFile = (stackDir: string) => path.join(stackDir, 'host-ledger.json');

/** Host-wide claim: the stack that runs real nodes on this machine (network plan, KUBE-* chains). */
const CLAIM_DIR = '/run/durable-db-operator';
const CLAIM_FILE = path.join(CLAIM_DIR, 'real-nodes.json');

interface Claim {
  stackDir: string;
  supervisorPid: number;
}

/**
 * Claims the host's real-node resources for a stack. A claim whose supervisor is gone (SIGKILL)
 * is cleaned up first; a live one refuses: two kube-proxies on one host rewrite each other's
 * chains, and the address plan is one per host.
 */
export function claimRealNodes(stackDir: string, isAlive: (pid: number) => boolean): void {
  const existing = readJson<Claim>(CLAIM_FILE);
  if (existing && existing.stackDir !== stackDir && isAlive(existing.supervisorPid)) {
    throw new Error(
      `real nodes already run on this machine for the stack in ${existing.stackDir} (supervisor pid ` +
        `${existing.supervisorPid}): stop it first, or start this one with --nodes 0 (simulated nodes only)`,
    );
  }
  if (existing) cleanHost(existing.stackDir);
  fs.mkdirSync(CLAIM_DIR, { recursive: true });
  fs.writeFileSync(CLAIM_FILE, JSON.stringify({ stackDir, supervisorPid: process.pid }));
}

/** Undoes a crashed stack's host changes when its claim is stale (called by every start). */
export function cleanStaleClaim(isAlive: (pid: number) => boolean): string | undefined {
  const existing = readJson<Claim>(CLAIM_FILE);
  if (!existing || isAlive(existing.supervisorPid)) return undefined;
  cleanHost(existing.stackDir);
  return existing.stackDir;
}

/** Records the host state before the nodes change it; re-entrant (keeps the first values). */
export function openLedger(stackDir: string, nodes: number, otherMountRoots: string[] = []): HostLedger {
  const previous = readJson<HostLedger>(ledgerFile(stackDir));
  const sysctls: Record<string, string> = previous?.sysctls ?? {};
  for (const name of SYSCTLS) {
    if (sysctls[name] === undefined) {
      const value = readOr(`/proc/sys/${name}`);
      if (value !== undefined) sysctls[name] = value.trim();
    }
  }
  const ledger: HostLedger = {
    stackDir,
    mountRoots: [stackDir, ...otherMountRoots],
    sysctls,
    cgroupRoots: Array.from({ length: nodes }, (_, i) => `durable-n${i}`),
    links: [NETWORK.controlPlaneBridge, ...Array.from({ length: nodes }, (_, i) => NETWORK.nodeBridge(i))],
  };
  fs.writeFileSync(ledgerFile(stackDir), JSON.stringify(ledger, null, 2));
  return ledger;
}

/**
 * The network before any node starts: the bridges with their addresses (kubelet needs its node IP
 * to exist), the route that sends Service traffic of host processes out with a bridge address,
 * forwarding between the bridges, and the guard that keeps pod and Service traffic on the machine:
 * anything from a pod or to a Service leaving through an interface the stack did not make is
 * dropped (and counted).
 */
export function setUpNetwork(ledger: HostLedger, nodes: number): void {
  writeSysctl('net/ipv4/ip_forward', '1');
  // Bridged traffic through iptables: a pod calling a Service that lands on a pod of the same
  // bridge gets its reply un-NATed by conntrack only if bridged frames pass netfilter.
  if (fs.existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables'))
    writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
  bridge(NETWORK.controlPlaneBridge, `${NETWORK.controlPlaneIp}/32`);
  for (let i = 0; i < nodes; i++) bridge(NETWORK.nodeBridge(i), `${NETWORK.nodeIp(i)}/24`);
  ip([
    'route',
    'replace',
    NETWORK.serviceRange,
    'dev',
    NETWORK.controlPlaneBridge,
    'src',
    NETWORK.controlPlaneIp,
  ]);

  const chain = NETWORK.guardChain;
  iptablesTry(['-N', chain]);
  iptables(['-F', chain]);
  for (const out of ['lo', `${NETWORK.linkPrefix}+`, 'veth+'])
    iptables(['-A', chain, '-o', out, '-j', 'RETURN']);
  iptables(['-A', chain, '-s', NETWORK.podRange, '-j', 'DROP']);
  iptables(['-A', chain, '-d', NETWORK.podRange, '-j', 'DROP']);
  iptables(['-A', chain, '-d', NETWORK.serviceRange, '-j', 'DROP']);
  for (const hook of ['OUTPUT', 'FORWARD']) {
    if (!iptablesOk(['-C', hook, '-j', chain])) iptables(['-I', hook, '1', '-j', chain]);
  }
  // A FORWARD policy of DROP (Docker sets one) would cut pods on different nodes apart.
  const accept = ['-s', NETWORK.podRange, '-d', NETWORK.podRange, '-j', 'ACCEPT'];
  if (!iptablesOk(['-C', chain, ...accept])) iptables(['-I', chain, '1', ...accept]);
  fs.writeFileSync(ledgerFile(ledger.stackDir), JSON.stringify(ledger, null, 2));
}

/** Packets the guard dropped so far (a test asserts 0: nothing tried to leave the machine). */
export function guardDrops(): number {
  const out = spawnSync('iptables', ['-w', '-L', NETWORK.guardChain, '-v', '-x', '-n'], { encoding: 'utf8' });
  let drops = 0;
  for (const line of out.stdout.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[2] === 'DROP') drops += Number(cols[0]);
  }
  return drops;
}

/** Makes the cgroup root of a node in every v1 hierarchy (kubelet expects it to exist). */
export function makeCgroupRoot(name: string): void {
  for (const controller of cgroupControllers()) {
    const dir = path.join(CGROUP_BASE, controller, name);
    fs.mkdirSync(dir, { recursive: true });
    if (controller === 'cpuset') {
      // A new cpuset has no CPUs or memory nodes until given its parent's.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const parent = readOr(path.join(CGROUP_BASE, controller, file))?.trim();
        if (parent && !readOr(path.join(dir, file))?.trim()) fs.writeFileSync(path.join(dir, file), parent);
      }
    }
  }
}

/**
 * Undoes everything the ledger in `stackDir` lists, and what the nodes left under it: kills the
 * processes in the nodes' cgroups (the containers), unmounts every mount under the stack
 * directory (pod volumes, overlay snapshots, netns, shm), removes the cgroups, kube-proxy's and our
 * chains, the links and the veths on them, and restores the sysctls. Idempotent; never throws.
 */
export function cleanHost(stackDir: string): string[] {
  const done: string[] = [];
  const ledger = readJson<HostLedger>(ledgerFile(stackDir));
  // No ledger: this stack never ran real nodes (or is clean already). The host-wide parts
  // (chains, links) may then belong to another stack that does: leave them alone.
  if (!ledger) return done;
  const roots = ledger.cgroupRoots;
  const shims = killShims(stackDir);
  if (shims) done.push(`killed ${shims} containerd shims`);
  const killed = killCgroupProcesses(roots);
  if (killed) done.push(`killed ${killed} container processes`);
  let unmounted = 0;
  for (const root of new Set([stackDir, ...ledger.mountRoots])) unmounted += unmountUnder(root);
  if (unmounted) done.push(`unmounted ${unmounted} mounts`);
  const removed = removeCgroups(roots);
  if (removed) done.push(`removed ${removed} cgroups`);
  const chains = removeChains();
  if (chains) done.push(`removed ${chains} iptables chains`);
  const links = removeLinks(ledger.links);
  if (links) done.push(`removed ${links} links`);
  // Connections of pods and Services the kernel still tracks would outlive the stack.
  for (const flag of ['-s', '-d']) {
    for (const range of [NETWORK.podRange, NETWORK.serviceRange]) {
      spawnSync('conntrack', ['-D', flag, range], { stdio: 'ignore' });
    }
  }
  for (const [name, value] of Object.entries(ledger.sysctls)) {
    if (readOr(`/proc/sys/${name}`)?.trim() !== value) {
      writeSysctl(name, value);
      done.push(`restored ${name.replace(/\//g, '.')}=${value}`);
    }
  }
  fs.rmSync(ledgerFile(stackDir), { force: true });
  const claim = readJson<Claim>(CLAIM_FILE);
  if (claim?.stackDir === stackDir) fs.rmSync(CLAIM_FILE, { force: true });
  return done;
}

/**
 * What is left of a stack's host changes (a test asserts nothing): mounts under its directory,
 * node cgroups, links, chains and changed sysctls.
 */
export function hostLeftovers(mountRoots: string[], sysctlsBefore: Record<string, string>): string[] {
  const left: string[] = [];
  for (const root of mountRoots) for (const m of mountsUnder(root)) left.push(`mount ${m}`);
  for (const controller of cgroupControllers()) {
    for (const entry of safeReaddir(path.join(CGROUP_BASE, controller))) {
      if (entry.startsWith('durable-n')) left.push(`cgroup ${controller}/${entry}`);
    }
  }
  for (const link of listLinks()) if (link.startsWith(NETWORK.linkPrefix)) left.push(`link ${link}`);
  for (const chain of ourChains()) left.push(`chain ${chain.table}/${chain.name}`);
  for (const [name, value] of Object.entries(sysctlsBefore)) {
    const now = readOr(`/proc/sys/${name}`)?.trim();
    if (now !== value) left.push(`sysctl ${name}=${now} (was ${value})`);
  }
  return left;
}

export function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SYSCTLS) {
    const v = readOr(`/proc/sys/${name}`);
    if (v !== undefined) out[name] = v.trim();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

function bridge(name: string, cidr: string): void {
  if (!listLinks().includes(name)) ip(['link', 'add', name, 'type', 'bridge']);
  ip(['addr', 'replace', cidr, 'dev', name]);
  ip(['link', 'set', name, 'up']);
}

function listLinks(): string[] {
  const out = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((name): name is string => !!name);
}

function removeLinks(links: string[]): number {
  let n = 0;
  const all = listLinks();
  // Veths whose bridge is ours (their pod's netns may already be gone, or not).
  const out = spawnSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)[^]*\bmaster (\S+)/.exec(line);
    if (m && m[2]!.startsWith(NETWORK.linkPrefix) && spawnSync('ip', ['link', 'del', m[1]!]).status === 0)
      n++;
  }
  for (const link of new Set([...links, ...all.filter((l) => l.startsWith(NETWORK.linkPrefix))])) {
    if (all.includes(link) && spawnSync('ip', ['link', 'del', link]).status === 0) n++;
  }
  return n;
}

interface Chain {
  table: string;
  name: string;
  v6: boolean;
}

function ourChains(): Chain[] {
  const chains: Chain[] = [];
  for (const v6 of [false, true]) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const out = spawnSync(v6 ? 'ip6tables' : 'iptables', ['-w', '-t', table, '-S'], { encoding: 'utf8' });
      for (const line of (out.stdout ?? '').split('\n')) {
        const m = /^-N ((KUBE|DURABLE)-\S+)/.exec(line);
        if (m) chains.push({ table, name: m[1]!, v6 });
      }
    }
  }
  return chains;
}

/**
 * kube-proxy's chains and ours: the jumps from the built-in chains first, then every rule, then the
 * chains. (`kube-proxy --cleanup` stops early without ipset and nft and leaves them.)
 */
function removeChains(): number {
  const chains = ourChains();
  for (const v6 of [false, true]) {
    const cmd = v6 ? 'ip6tables' : 'iptables';
    for (const table of ['filter', 'nat', 'mangle']) {
      const rules = (spawnSync(cmd, ['-w', '-t', table, '-S'], { encoding: 'utf8' }).stdout ?? '').split(
        '\n',
      );
      for (const rule of rules) {
        const m = /^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) (.*-j (KUBE|DURABLE)-\S+.*)$/.exec(rule);
        if (m) spawnSync(cmd, ['-w', '-t', table, '-D', m[1]!, ...splitRule(m[2]!)], { stdio: 'ignore' });
      }
    }
  }
  for (const c of chains) spawnSync(c.v6 ? 'ip6tables' : 'iptables', ['-w', '-t', c.table, '-F', c.name]);
  for (const c of chains) spawnSync(c.v6 ? 'ip6tables' : 'iptables', ['-w', '-t', c.table, '-X', c.name]);
  return chains.length;
}

/** Splits an `iptables -S` rule into arguments (quoted comments stay one argument). */
function splitRule(rule: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) args.push(m[1] !== undefined ? m[1] : m[2]!);
  return args;
}

function cgroupControllers(): string[] {
  return safeReaddir(CGROUP_BASE).filter(
    (c) => c !== 'unified' && fs.existsSync(path.join(CGROUP_BASE, c, 'tasks')),
  );
}

/** The nodes' containerd shims, which outlive their containerd: found by its socket path. */
function killShims(stackDir: string): number {
  let n = 0;
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = (readOr(`/proc/${entry}/cmdline`) ?? '').split('\0');
    if (!cmdline[0]?.includes('containerd-shim') || !cmdline.some((a) => a.startsWith(`${stackDir}/`)))
      continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      n++;
    } catch {
      // Gone.
    }
  }
  return n;
}

/** SIGKILLs every process in the nodes' cgroups (the containers: pause, engines, Job scripts). */
function killCgroupProcesses(roots: string[]): number {
  const pids = new Set<number>();
  for (const root of roots) {
    for (const controller of ['memory', 'pids', 'cpu']) {
      walk(path.join(CGROUP_BASE, controller, root), (dir) => {
        for (const pid of (readOr(path.join(dir, 'cgroup.procs')) ?? '').split('\n'))
          if (pid) pids.add(Number(pid));
      });
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (pids.size) spawnSync('sleep', ['0.5']);
  return pids.size;
}

function removeCgroups(roots: string[]): number {
  let n = 0;
  for (const controller of cgroupControllers()) {
    for (const root of roots) {
      const dirs: string[] = [];
      walk(path.join(CGROUP_BASE, controller, root), (dir) => dirs.push(dir));
      // Children first: a cgroup with children cannot be removed.
      for (const dir of dirs.sort((a, b) => b.length - a.length)) {
        try {
          fs.rmdirSync(dir);
          n++;
        } catch {
          // Busy (a process survived) or gone; the leftovers check reports it.
        }
      }
    }
  }
  return n;
}

function walk(dir: string, visit: (dir: string) => void): void {
  if (!fs.existsSync(dir)) return;
  visit(dir);
  for (const entry of safeReaddir(dir)) {
    const child = path.join(dir, entry);
    try {
      if (fs.statSync(child).isDirectory()) walk(child, visit);
    } catch {
      // Removed meanwhile.
    }
  }
}

function mountsUnder(dir: string): string[] {
  const prefix = `${fs.existsSync(dir) ? fs.realpathSync(dir) : dir}/`;
  const text = readOr('/proc/self/mountinfo') ?? '';
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => !!mp && mp.replace(/\\040/g, ' ').startsWith(prefix));
}

function unmountUnder(dir: string): number {
  let n = 0;
  // Deepest first; a few rounds, since unmounting a parent may reveal what it covered.
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir).sort((a, b) => b.length - a.length);
    if (!mounts.length) break;
    for (const mp of mounts) {
      if (spawnSync('umount', [mp], { stdio: 'ignore' }).status === 0) n++;
      else if (spawnSync('umount', ['-l', mp], { stdio: 'ignore' }).status === 0) n++;
    }
  }
  return n;
}

function writeSysctl(name: string, value: string): void {
  try {
    fs.writeFileSync(`/proc/sys/${name}`, value);
  } catch {
    // Read-only in this environment: nothing to restore either.
  }
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function iptables(args: string[]): void {
  execFileSync('iptables', ['-w', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function iptablesOk(args: string[]): boolean {
  return spawnSync('iptables', ['-w', ...args], { stdio: 'ignore' }).status === 0;
}

function iptablesTry(args: string[]): void {
  spawnSync('iptables', ['-w', ...args], { stdio: 'ignore' });
}

function readOr(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readJson<T>(file: string): T | undefined {
  const text = readOr(file);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
