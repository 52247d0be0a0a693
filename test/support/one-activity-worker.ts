/**
 * The operator's real worker (cmd/worker.ts, same configuration by environment) that completes
 * exactly ONE activity per process: the next activity it is handed blocks forever. The
 * durability test SIGKILLs it as soon as that one completion is in the history, so every
 * process dies precisely at an activity boundary (and in the middle of the next activity,
 * which Temporal retries on another worker after its timeout).
 */
import type { ActivityInboundCallsInterceptor } from '@temporalio/worker';
import { loadConfig } from '../../common/config';
import { createLogger } from '../../common/logger';
import { createWorker } from '../../cmd/worker';

let started = 0;

class OneActivityGate implements ActivityInboundCallsInterceptor {
  async execute(
    input: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[0],
    next: Parameters<NonNullable<ActivityInboundCallsInterceptor['execute']>>[1],
  ): Promise<unknown> {
    started += 1;
    if (started > 1) await new Promise(() => undefined);
    return next(input);
  }
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  const worker = await createWorker(cfg, createLogger(cfg.LOG_LEVEL, 'one-activity-worker'), {
    activity: [() => ({ inbound: new OneActivityGate() })],
  });
  await worker.run();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
