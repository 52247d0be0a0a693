'use strict';
/**
 * A TCP forwarder: `node tcp-forward.js LISTEN_HOST:PORT TARGET_HOST:PORT`. The stack runs one so
 * that pods on the real nodes reach the Temporal dev server at the control plane's address: the
 * dev server itself must bind loopback (with `--ip` set to another address its own services dial
 * each other on 127.0.0.1 and fail), and 0.0.0.0 would open it on every interface of the machine.
 * Plain JavaScript, so that it starts in a fraction of a second without tsx.
 */
const net = require('node:net');

function split(hostPort) {
  const i = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw new Error(`expected HOST:PORT, not ${hostPort}`);
  return { host: hostPort.slice(0, i), port };
}

const [listen, target] = process.argv.slice(2).map(split);
if (!listen || !target) throw new Error('usage: tcp-forward.js LISTEN_HOST:PORT TARGET_HOST:PORT');

const server = net.createServer((inbound) => {
  const outbound = net.connect(target.port, target.host);
  inbound.setNoDelay(true);
  outbound.setNoDelay(true);
  inbound.pipe(outbound).pipe(inbound);
  // Either side failing ends both: a half-open pair would hang the gRPC stream.
  inbound.on('error', () => outbound.destroy());
  outbound.on('error', () => inbound.destroy());
  inbound.on('close', () => outbound.destroy());
  outbound.on('close', () => inbound.destroy());
});
server.listen(listen.port, listen.host, () => {
  process.stdout.write(`forwarding ${listen.host}:${listen.port} → ${target.host}:${target.port}\n`);
});
