import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/** Keeps workers in tests quiet (warnings and errors only); the Runtime can be installed once. */
export function quietTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}
