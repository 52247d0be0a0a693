import { patched, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { actUntilDone } from '../../activity-options';
import { DatabasePhase as PhaseAttribute } from '../../search-attributes';
import type { SpecUpdate } from '../../signals';
import type { Entity } from '../state';
import { keyed } from '../status-book';

/**
 * Deletes the Database: status Deleting with an Event, the backup Schedule removed (backups
 * already taken stay: they outlive the Database), the data released per deletionPolicy, the
 * finalizer removed. A deletion must finish: its steps retry until they succeed, however long
 * the API is away.
 */
export async function deleteDatabase(entity: Entity, update: SpecUpdate): Promise<void> {
  const { namespace, name, state } = entity;
  const ref = { namespace, name, uid: update.uid };
  const id = `${namespace}/${name}`;
  const act = (summary: string) => actUntilDone(summary);
  const policy = update.spec.deletionPolicy ?? 'Delete';
  setCurrentDetails(`**deleting** (deletionPolicy ${policy})`);
  state.status.phase = 'Deleting';
  upsertSearchAttributes([{ key: PhaseAttribute, value: 'Deleting' }]);
  await act(`update status of Database ${id}`).reportStatus(
    ref,
    state.status,
    keyed(entity, {
      type: 'Normal',
      reason: 'Deleting',
      message:
        policy === 'Retain'
          ? 'deleting; data volumes and credentials Secret are retained'
          : 'deleting with its data volumes',
    }),
  );
  if (patched('backup-schedule-v1')) {
    await act(`delete backup Schedule of Database ${id}`).deleteBackupSchedule(namespace, name);
  }
  await act(
    `release ${policy === 'Retain' ? 'and retain data of' : 'data of'} Database ${id}`,
  ).releaseDatabase(ref, policy);
  await act(`remove finalizer from Database ${id}`).removeFinalizer(ref);
}
