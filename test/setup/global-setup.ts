import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { startSupervisor as startSupervisorProcess } from '../../tools/stack/supervisor';

const root = path.resolve(__dirname, '..', '..');

/**
 * Starts ONE local stack for the whole jest run, as a supervisor child process whose stdin is a
 * pipe from this process: when jest exits, by any means, the pipe closes and the supervisor
 * stops every component. Tests find the stack through DURABLE_STACK_FILE. Meanwhile the
 * workflows are bundled once (DURABLE_WORKFLOW_BUNDLE) for every Worker of the run.
 */
export default async function globalSetup(): Promise<void> {
  const bundling = bundleWorkflows();
  if (!process.env.DURABLE_STACK_FILE) await startStack(); // else: a stack started by hand is reused
  await bundling;
}

async function bundleWorkflows(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(root, 'workflows'),
    logger: new DefaultLogger('WARN'),
  });
  const file = path.join(root, '.stack', `workflow-bundle-${process.pid}.js`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
  process.env.DURABLE_WORKFLOW_BUNDLE = file;
}

async function startStack(): Promise<void> {
  const { child, stackFile } = await startSupervisorProcess([
    `--name=${process.env.DURABLE_STACK_NAME ?? 'test'}`,
  ]);
  (globalThis as { durableStack?: ChildProcess }).durableStack = child;
  process.env.DURABLE_STACK_FILE = stackFile;
}
