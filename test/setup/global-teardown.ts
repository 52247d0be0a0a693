import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/**
 * Closes the supervisor's stdin and waits until it has stopped every component, then prints the
 * summary line of summary-reporter.js as the very last line of the run.
 */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis as { durableStack?: ChildProcess; durableJestSummary?: string };
  const child = state.durableStack;
  if (child && child.exitCode === null) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
    });
  }
  if (process.env.DURABLE_WORKFLOW_BUNDLE) fs.rmSync(process.env.DURABLE_WORKFLOW_BUNDLE, { force: true });
  if (state.durableJestSummary) process.stdout.write(`${state.durableJestSummary}\n`);
}
