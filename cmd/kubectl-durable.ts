#!/usr/bin/env node
/**
 * `kubectl-durable`: the kubectl plugin's binary (package.json "bin"); kubectl finds it on PATH
 * and runs it for `kubectl durable …`. The commands live in plugin/.
 */
import { runPlugin } from '../plugin/main';

if (require.main === module) {
  runPlugin(process.argv.slice(2)).then(
    // Exit once stdout is flushed: a Temporal connection that never came up (the SDK keeps
    // retrying it in the background) must not hold the process after the answer is printed.
    (code) => {
      process.stdout.write('', () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
