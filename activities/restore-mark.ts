import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/activity';
import { RESTORE_ANNOTATION } from '../crds';
import { databaseGone, databaseResource, readDatabase } from './database-ref';
import { kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import type { DatabaseRef } from './types';

/** What RESTORE_ANNOTATION records: the cluster's word on whether a restore ran, not the workflow's memory. */
export interface RestoreMark {
  backup: string;
  state: 'started' | 'done';
  /** The workflow run that started it (a retry of the same run may go on where it stopped). */
  run?: string;
}

export function parseRestoreMark(value: string | undefined): RestoreMark | undefined {
  if (!value) return undefined;
  try {
    const m = JSON.parse(value) as Partial<RestoreMark>;
    if (typeof m.backup !== 'string' || (m.state !== 'started' && m.state !== 'done')) return undefined;
    return { backup: m.backup, state: m.state, ...(typeof m.run === 'string' ? { run: m.run } : {}) };
  } catch {
    return undefined; // not ours (or hand-edited): treated as absent, and overwritten by the next mark
  }
}

/** The restore mark of this incarnation; a Database that is gone is a DatabaseGone failure. */
export async function readRestoreMark(
  clients: KubeClients,
  ref: DatabaseRef,
): Promise<RestoreMark | undefined> {
  const db = await readDatabase(clients, ref);
  if (!db) throw databaseGone(ref);
  return parseRestoreMark(db.metadata.annotations?.[RESTORE_ANNOTATION]);
}

/** Writes the mark (merge patch with the uid as precondition: a re-created Database is left alone). */
export async function writeRestoreMark(
  clients: KubeClients,
  ref: DatabaseRef,
  mark: RestoreMark,
): Promise<void> {
  await kubeCall(`mark restore ${mark.state} on Database ${ref.namespace}/${ref.name}`, () =>
    clients.custom.patchNamespacedCustomObject(
      {
        ...databaseResource(ref),
        body: { metadata: { uid: ref.uid, annotations: { [RESTORE_ANNOTATION]: JSON.stringify(mark) } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    ),
  );
}

/**
 * Before a restore Job is created: refuses when another workflow run started a restore whose Job
 * is gone (the data may be half restored; restoring again with --clean over it, or declaring it
 * Ready, would both be wrong), else records that this run starts it.
 */
export async function markRestoreStarted(
  clients: KubeClients,
  ref: DatabaseRef,
  backup: string,
  run: string,
): Promise<void> {
  const mark = await readRestoreMark(clients, ref);
  if (mark?.state === 'started' && mark.run !== run) {
    throw ApplicationFailure.nonRetryable(
      `a restore of backup ${mark.backup} was started by an earlier run and its Job is gone: the data may be partly restored. ` +
        `Delete this Database and create it again to restore, or remove annotation ${RESTORE_ANNOTATION} to restore over what is there`,
      'RestoreInterrupted',
    );
  }
  if (mark?.state === 'done' && mark.backup === backup) return;
  await writeRestoreMark(clients, ref, { backup, state: 'started', run });
}
