import type { DatabaseBackup } from '../crds';
import { getBackup, type KubeTarget } from './kube';
import { UserError, colourOf, humanBytes, paint, type Io } from './output';

/**
 * What `--wait` does for every command: reads an object again and again, prints each new
 * progress line (on stderr, so stdout keeps only the outcome), and stops once it is done or the
 * timeout passed.
 */
export interface Follow<T> {
  read: () => Promise<T>;
  done: (seen: T) => boolean;
  /** One line about where it is now; printed when it differs from the last one. */
  progress: (seen: T) => string | undefined;
  timeoutSeconds: number;
  io: Io;
  intervalMs?: number;
}

export async function follow<T>(f: Follow<T>): Promise<{ seen: T; timedOut: boolean }> {
  const deadline = Date.now() + f.timeoutSeconds * 1000;
  let last: string | undefined;
  for (;;) {
    const seen = await f.read();
    if (f.done(seen)) return { seen, timedOut: false };
    const line = f.progress(seen);
    if (line !== undefined && line !== last) f.io.err(`  ${line}\n`);
    last = line;
    if (Date.now() >= deadline) return { seen, timedOut: true };
    await new Promise((r) => setTimeout(r, f.intervalMs ?? 1_000));
  }
}

/** `--timeout SECONDS`, a whole number of seconds (the command's default when absent). */
export function timeoutOption(value: unknown, defaultSeconds: number): number {
  const seconds = value === undefined ? defaultSeconds : Number(value);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new UserError(`--timeout must be a whole number of seconds, not '${String(value)}'`);
  }
  return seconds;
}

const finalPhase = (b: DatabaseBackup | undefined) =>
  b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed';

/** The outcome line of a finished backup. */
export function backupOutcome(b: DatabaseBackup, tty: boolean): string {
  const s = b.status ?? {};
  const took =
    s.startedAt && s.finishedAt
      ? ` in ${Math.round((Date.parse(String(s.finishedAt)) - Date.parse(String(s.startedAt))) / 1000)}s`
      : '';
  const phase = paint(s.phase ?? 'Pending', colourOf(s.phase), tty);
  const attempts = s.attempts ? `, ${s.attempts} attempt${s.attempts > 1 ? 's' : ''}` : '';
  if (s.phase === 'Succeeded') {
    return `backup ${b.metadata.name} ${phase}${took}${attempts}: ${humanBytes(s.sizeBytes)} at ${s.location ?? '?'}\n`;
  }
  return `backup ${b.metadata.name} ${phase}${took}${attempts}: ${s.error ?? 'no error recorded'}\n`;
}

/**
 * Follows a DatabaseBackup until the run waited for ends (`ended`, default: a final phase), prints
 * its outcome on stdout and returns the exit code: 0 Succeeded, 1 Failed or timed out.
 */
export async function followBackup(
  t: KubeTarget,
  io: Io,
  opts: {
    name: string;
    database: string;
    timeoutSeconds: number;
    ended?: (b: DatabaseBackup) => boolean;
    /** Printed while the run waited for has not started (a retry not yet taken up). */
    waiting?: string;
  },
): Promise<number> {
  const ended = opts.ended ?? (() => true);
  const started = (b: DatabaseBackup | undefined) => !finalPhase(b) || (!!b && ended(b));
  const { seen, timedOut } = await follow({
    read: () => getBackup(t, opts.name),
    done: (b) => !!b && finalPhase(b) && ended(b),
    progress: (b) => {
      if (!started(b)) return opts.waiting;
      const s = b?.status;
      return `${s?.phase ?? 'Pending'}${s?.attempts ? ` attempt ${s.attempts}` : ''}${s?.jobName ? ` (Job ${s.jobName})` : ''}`;
    },
    timeoutSeconds: opts.timeoutSeconds,
    io,
  });
  if (!seen) {
    throw new UserError(
      `DatabaseBackup ${opts.name} disappeared from ${t.namespace} while it was followed`,
      `kubectl get databasebackups -n ${t.namespace}`,
    );
  }
  if (timedOut) {
    const phase = started(seen) ? (seen.status?.phase ?? 'Pending') : 'not started';
    io.err(
      `backup ${opts.name} still ${phase} after ${opts.timeoutSeconds}s; it goes on: kubectl durable backups ${opts.database} -n ${t.namespace}\n`,
    );
    return 1;
  }
  io.out(backupOutcome(seen, io.tty));
  return seen.status?.phase === 'Succeeded' ? 0 : 1;
}
