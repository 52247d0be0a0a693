import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { repoRoot } from './binaries';

/**
 * Starts a stack as a supervisor child process (`cli.ts up … --watch-stdin`) whose stdin is a pipe
 * from the caller: when the caller exits, by any means, the pipe closes and the supervisor stops
 * every component. Resolves with the child and its stack.json once the stack is ready.
 */
export async function startSupervisor(args: string[]): Promise<{ child: ChildProcess; stackFile: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'tools/stack/cli.ts'), 'up', ...args, '--watch-stdin'],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const stackFile = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('STACK_READY ')) resolve(line.slice('STACK_READY '.length));
    });
    child.once('exit', (code) => reject(new Error(`the local stack failed to start (exit ${code})`)));
  });
  return { child, stackFile };
}
