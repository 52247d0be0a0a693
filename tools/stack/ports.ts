import fs from 'node:fs';
import net from 'node:net';

// Ports the stack's servers listen on come from below the kernel's ephemeral range. A port the
// kernel hands out for `listen(0)` is an ephemeral one: between finding it free and the server
// binding it (seconds, for an API server that waits on etcd), any outgoing connection on the
// machine may take it as its local port, and the server then fails with "address already in use"
// (CI saw kube-scheduler lose its port that way). Outgoing connections never get a port outside
// the range, so a port found free there stays free unless another listener takes it on purpose.
const LOWEST = 10_000;
const FALLBACK_RANGE: [number, number] = [32_768, 60_999];

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range). */
export function ephemeralRange(): [number, number] {
  try {
    const [low, high] = fs
      .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (
      low !== undefined &&
      high !== undefined &&
      Number.isInteger(low) &&
      Number.isInteger(high) &&
      low <= high
    )
      return [low, high];
  } catch {
    // not Linux, or no /proc: assume the usual default
  }
  return FALLBACK_RANGE;
}

/** The ports the stack may hand out: below the ephemeral range, else above it. */
export function listenRange(range: [number, number] = ephemeralRange()): [number, number] {
  const [low, high] = range;
  if (low - 1 - LOWEST >= 1_000) return [LOWEST, low - 1];
  if (65_535 - high >= 1_000) return [high + 1, 65_535];
  throw new Error(`the ephemeral port range ${low}-${high} leaves no room for the stack's listeners`);
}

// Handed out by this process already: two components of one stack never get the same port,
// even before the first of them binds it.
const handedOut = new Set<number>();

/** A free loopback TCP port outside the ephemeral range, not handed out before by this process. */
export async function freePort(): Promise<number> {
  const [low, high] = listenRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await portFree(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${low}-${high} after 200 tries`);
}

/** True when nothing listens on 127.0.0.1:port (checked by binding it for a moment). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Allocates `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
