import net from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { freePort } from '../../tools/stack/ports';

/**
 * A TCP proxy in front of a real server (kube-apiserver, Temporal frontend) that can simulate
 * network trouble for the watcher's robustness tests: connections that go silent without
 * closing (a half-open watch), and a server that refuses connections for a while. TLS passes
 * through untouched.
 */
export class FaultyProxy {
  private server?: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private readonly frozen: net.Socket[] = [];

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards to `target` (`host:port` or `https://host:port`). */
  static async start(target: string): Promise<FaultyProxy> {
    const url = new URL(target.includes('://') ? target : `tcp://${target}`);
    // Outside the ephemeral range: the proxy closes its port for a cut and binds it again later,
    // and an ephemeral port could meanwhile be taken by an outgoing connection.
    const port = await freePort();
    const proxy = new FaultyProxy({ host: url.hostname, port: Number(url.port) }, port);
    await proxy.accept();
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** (Again) accepts and forwards new connections. */
  async accept(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      const pair = { client, upstream };
      this.pairs.add(pair);
      const drop = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /**
   * Every open connection goes silent in both directions but stays open, as behind a dead NAT
   * entry: neither end learns anything. New connections still work.
   */
  blackholeExisting(): number {
    let n = 0;
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
      this.frozen.push(client, upstream);
      n++;
    }
    this.pairs.clear(); // forgotten: never forwarded again, closed by close()
    return n;
  }

  /** Stops listening (connections are refused) and resets every open connection. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const { client, upstream } of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.refuse();
    for (const socket of this.frozen.splice(0)) socket.destroy();
  }
}

/** The test stack's kubeconfig, pointed at `https://<proxy>` instead of the API server. */
export function kubeConfigVia(base: k8s.KubeConfig, proxy: FaultyProxy): k8s.KubeConfig {
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, server: `https://${proxy.address}` }],
    users: base.users,
    contexts: base.contexts,
    currentContext: base.getCurrentContext(),
  });
  return kc;
}
