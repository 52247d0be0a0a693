import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Children of one stack. Every child gets DURABLE_STACK_DIR in its environment, so that a later
 * run can find and kill what a crashed run left behind (see reapStale), even after its parent
 * died with SIGKILL and nothing could clean up.
 */
export class ProcessGroup {
  private readonly children: { name: string; child: ChildProcess }[] = [];

  constructor(
    private readonly stackDir: string,
    private readonly logDir: string,
  ) {
    fs.mkdirSync(logDir, { recursive: true });
  }

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const logFile = path.join(this.logDir, `${name}.log`);
    const out = fs.openSync(logFile, 'a');
    const child = spawn(command, args, {
      stdio: ['ignore', out, out],
      env: { ...process.env, ...env, DURABLE_STACK_DIR: this.stackDir },
    });
    fs.closeSync(out);
    child.on('error', (err) => fs.appendFileSync(logFile, `\n[harness] spawn error: ${err.message}\n`));
    this.children.push({ name, child });
    this.writePids();
    return child;
  }

  /** Throws with the tail of its log when a child has exited: used while waiting for readiness. */
  assertRunning(name: string): void {
    const entry = this.children.find((c) => c.name === name);
    if (!entry) throw new Error(`unknown process ${name}`);
    const { child } = entry;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${name} exited (${child.exitCode ?? child.signalCode}); last log lines:\n${this.tail(name, 25)}`,
      );
    }
  }

  tail(name: string, lines: number): string {
    try {
      const text = fs.readFileSync(path.join(this.logDir, `${name}.log`), 'utf8');
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Stops one child (SIGTERM, then SIGKILL after the grace period) and forgets it. */
  async stop(name: string, graceMs = 8_000): Promise<void> {
    const entry = this.children.find((c) => c.name === name);
    if (!entry) return;
    await stopChild(entry.child, graceMs);
    this.children.splice(this.children.indexOf(entry), 1);
    this.writePids();
  }

  /** Stops children in reverse start order: SIGTERM, then SIGKILL after the grace period. */
  async stopAll(graceMs = 8_000): Promise<void> {
    for (const { child } of [...this.children].reverse()) {
      await stopChild(child, graceMs);
    }
    this.children.length = 0;
    this.writePids();
  }

  private writePids(): void {
    const pids = this.children.map(({ name, child }) => ({ name, pid: child.pid }));
    fs.writeFileSync(path.join(this.stackDir, 'pids.json'), JSON.stringify(pids, null, 2));
  }
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Kills processes left behind by earlier stacks under `root` whose supervisor is gone. A process
 * is ours only if its environment names that stack's directory, so a recycled pid is never hit.
 */
export function reapStale(root: string): string[] {
  const reaped: string[] = [];
  if (!fs.existsSync(root)) return reaped;
  for (const name of fs.readdirSync(root)) {
    const stackDir = path.join(root, name);
    const pidsFile = path.join(stackDir, 'pids.json');
    const supervisorFile = path.join(stackDir, 'supervisor.pid');
    if (!fs.existsSync(pidsFile)) continue;
    const supervisor = Number(readOr(supervisorFile, '0'));
    if (supervisor && supervisor !== process.pid && isAlive(supervisor)) continue;
    const pids = JSON.parse(readOr(pidsFile, '[]')) as { name: string; pid?: number }[];
    // The children the stack started itself, and whatever else carries its directory (the
    // containerd shims the nodes' containerds started).
    const known = new Set(pids.map((p) => p.pid));
    const others = carriersOf(stackDir).filter((pid) => !known.has(pid));
    const candidates = [...pids, ...others.map((pid) => ({ name: 'descendant', pid }))];
    for (const { name: proc, pid } of candidates) {
      if (!pid || !isAlive(pid)) continue;
      if (!readOr(`/proc/${pid}/environ`, '').includes(`DURABLE_STACK_DIR=${stackDir}\0`)) continue;
      process.kill(pid, 'SIGKILL');
      reaped.push(`${name}/${proc}(${pid})`);
    }
    fs.writeFileSync(pidsFile, '[]');
  }
  return reaped;
}

/** Pids of live processes whose environment names this stack directory. */
function carriersOf(stackDir: string): number[] {
  const marker = `DURABLE_STACK_DIR=${stackDir}\0`;
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .map(Number)
    .filter((pid) => readOr(`/proc/${pid}/environ`, '').includes(marker));
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** True for a live process; a zombie (killed, not yet waited for by its parent) counts as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readOr(`/proc/${pid}/stat`, '');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
