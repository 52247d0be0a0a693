import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

/**
 * The stack supervisor's control socket, `<stack dir>/control.sock` (mode 0600): how a test, a
 * process other than the supervisor, takes a component down and brings it back (a real fault,
 * not a mock). One request per action: `POST /<action>`, answered 204 once it is done, or 500
 * with the error.
 */
export type ControlAction = 'object-store/stop' | 'object-store/start';

export type ControlHandlers = Record<ControlAction, () => Promise<void>>;

export const controlSocket = (stackDir: string): string => path.join(stackDir, 'control.sock');

export async function serveControl(stackDir: string, handlers: ControlHandlers): Promise<http.Server> {
  const socket = controlSocket(stackDir);
  fs.rmSync(socket, { force: true });
  // One action at a time: a stop and a start that overlap would race on the same process.
  let queue = Promise.resolve();
  const server = http.createServer((req, res) => {
    const action = (req.url ?? '').replace(/^\//, '') as ControlAction;
    const handler = req.method === 'POST' ? handlers[action] : undefined;
    if (!handler) {
      res.writeHead(404).end(`unknown action ${req.method} ${req.url}\n`);
      return;
    }
    queue = queue.then(() =>
      handler().then(
        () => void res.writeHead(204).end(),
        (err: unknown) => void res.writeHead(500).end(err instanceof Error ? err.message : String(err)),
      ),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  fs.chmodSync(socket, 0o600);
  server.unref();
  return server;
}

/** Asks the supervisor of the stack in `stackDir` to do `action`; resolves once it is done. */
export function control(stackDir: string, action: ControlAction, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: controlSocket(stackDir), path: `/${action}`, method: 'POST', timeout: timeoutMs },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          res.statusCode === 204
            ? resolve()
            : reject(new Error(`stack control ${action}: HTTP ${res.statusCode}: ${body}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`stack control ${action}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
