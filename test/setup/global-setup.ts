import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

/**
 * Starts ONE local stack for the whole jest run, as a supervisor child process whose stdin is a
 * pipe from this process: when jest exits, by any means, the pipe closes and the supervisor
 * stops every component. Tests find the stack through DURABLE_STACK_FILE.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DURABLE_STACK_FILE) return; // a stack started by hand (`npm run stack`) is reused
  const root = path.resolve(__dirname, '..', '..');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'tools/stack/cli.ts'), 'up', '--name=test', '--watch-stdin'],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  (globalThis as { durableStack?: ChildProcess }).durableStack = child;
  const stackFile = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('STACK_READY ')) resolve(line.slice('STACK_READY '.length));
    });
    child.once('exit', (code) => reject(new Error(`the local stack failed to start (exit ${code})`)));
  });
  process.env.DURABLE_STACK_FILE = stackFile;
}
