/**
 * `durable-db-operator bundle [--out FILE]` — bundles the workflow code (workflows/index) once, the
 * way the worker would at start, and writes it to FILE (stdout without --out). The container image
 * runs this at build time and sets WORKFLOW_BUNDLE_PATH to the file, so a worker starts in about a
 * second instead of running webpack on every start, and needs no writable directory for it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowsPath } from './worker';

/** The workflow bundle's code, bundled from the same `workflowsPath()` the worker uses. */
export async function buildWorkflowBundle(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    logger: new DefaultLogger('WARN'),
  });
  return code;
}

/**
 * Writes the bundle to `outFile` (its directory is created), through a temporary file and a rename,
 * so a reader never sees half a bundle.
 */
export async function writeWorkflowBundle(outFile: string): Promise<{ path: string; bytes: number }> {
  const code = await buildWorkflowBundle();
  const target = path.resolve(outFile);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, target);
  return { path: target, bytes: Buffer.byteLength(code) };
}

export async function main(args: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({ args, options: { out: { type: 'string', short: 'o' } }, strict: true });
  if (values.out === undefined || values.out === '-') {
    process.stdout.write(await buildWorkflowBundle());
    return;
  }
  const written = await writeWorkflowBundle(values.out);
  process.stderr.write(`workflow bundle written to ${written.path} (${written.bytes} bytes)\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
