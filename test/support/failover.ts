import type { Database } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import { explainingTimeout } from './diagnose';
import { killEngine } from './faults';
import { getDatabase } from './operator';
import { kubectlOk } from './stack';
import type { WriterLoop } from './writer-loop';

/** What the failover tests share: the fault, and the waits for its outcome as a user sees them. */

/**
 * Kills a PostgreSQL member's engine for good: its control file is moved away first, so every
 * restart fails ("could not open file global/pg_control": CrashLoopBackOff). Not a permission
 * change: the image's entrypoint resets PGDATA's mode at each start. Returns the time of the kill.
 */
export async function killPostgresForGood(namespace: string, pod: string): Promise<number> {
  const control = '/var/lib/postgresql/data/pgdata/global/pg_control';
  await kubectlOk(['exec', '-n', namespace, pod, '-c', 'database', '--', 'mv', control, `${control}.gone`]);
  return killEngine(namespace, pod);
}

/** Waits until the Database reports another primary than `former`; returns the Database. */
export function waitForNewPrimary(
  namespace: string,
  db: string,
  former: string,
  timeoutMs = 120_000,
): Promise<Database> {
  return explainingTimeout(namespace, db, () =>
    waitFor(
      `a primary other than ${former}`,
      async () => {
        const d = await getDatabase(namespace, db);
        return d?.status?.currentPrimary && d.status.currentPrimary !== former ? d : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    ),
  );
}

/** Waits until the Database is Ready with `member` streaming as a replica; returns the Database. */
export function waitForRejoined(
  namespace: string,
  db: string,
  member: string,
  timeoutMs = 300_000,
): Promise<Database> {
  return explainingTimeout(namespace, db, () =>
    waitFor(
      `${member} streaming as a replica`,
      async () => {
        const d = await getDatabase(namespace, db);
        const m = d?.status?.members?.find((x) => x.name === member);
        return d?.status?.phase === 'Ready' && m?.role === 'replica' && m.state === 'streaming'
          ? d
          : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    ),
  );
}

/**
 * Waits until the writer's writes flow again after `since`, then a little more (an outage ends
 * once writes flow, not at a write that raced the fault); returns the outage in ms.
 */
export async function waitForWritesBack(writer: WriterLoop, since: number): Promise<number> {
  await waitFor(
    'writes accepted again',
    async () => (writer.writesBackAfter(since) !== undefined ? true : undefined),
    {
      timeoutMs: 60_000,
      intervalMs: 100,
    },
  );
  await new Promise((r) => setTimeout(r, 2_000));
  return writer.writesBackAfter(since)!;
}

/** The writer's acknowledged writes whose ids are not among `ids` (read back from the primary). */
export function lostWrites(writer: WriterLoop, ids: Iterable<number>): { id: number; at: number }[] {
  const present = new Set(ids);
  return writer.acknowledged.filter((a) => !present.has(a.id));
}
