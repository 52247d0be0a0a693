import * as k8s from '@kubernetes/client-node';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import {
  BACKUP_REASONS,
  DATABASE_BACKUP,
  GROUP,
  RETRY_ANNOTATION,
  VERSION,
  type BackupReason,
} from '../crds';
import type { Logger } from '../common/logger';
import { BACKUP_WORKFLOW_TYPE, backupWorkflowId } from '../contracts/backup-names';
import type { BackupWorkflowInput } from '../workflows/backup';
import { ResilientInformer, type InformerEvent } from './resilient-informer';
import { KeyedSender, temporalCall } from './sender';
import type { BackoffOptions } from './timing';

/**
 * On-demand backups and retries: a DatabaseBackup informer that starts `backupWorkflow`
 * (`backup/<namespace>/<name>`) for
 * - a DatabaseBackup without a final phase (`kubectl create`; one the schedule or the upgrade
 *   workflow created is already running, so its start is refused and nothing happens; one whose
 *   run ended without finishing it, e.g. terminated, gets a fresh run, found at the watcher's
 *   next list);
 * - a Failed one whose `durable.dev/retry` annotation has a value no run was started for yet
 *   (`kubectl annotate databasebackup <name> durable.dev/retry=$(date +%s) --overwrite`): a new
 *   run of the same workflow ID, its attempts numbered on from the last.
 * Idempotent: Temporal refuses a second run of a running (or, without a retry, finished) ID, and
 * a retry run carries its token in its memo, which is compared before starting another.
 */

export type BackupObject = k8s.KubernetesObject & {
  spec?: { databaseName?: unknown; reason?: unknown; scheduledTime?: unknown };
  status?: { phase?: unknown };
};

/** What to start for a DatabaseBackup, if anything. Pure. */
export type BackupStart =
  | { kind: 'run'; workflowId: string; input: BackupWorkflowInput }
  | { kind: 'retry'; workflowId: string; input: BackupWorkflowInput; token: string };

export function backupStartFor(obj: BackupObject): BackupStart | undefined {
  const { name, namespace, deletionTimestamp, annotations } = obj.metadata ?? {};
  const databaseName = obj.spec?.databaseName;
  if (!name || !namespace || deletionTimestamp || typeof databaseName !== 'string' || !databaseName) {
    return undefined;
  }
  const reason = BACKUP_REASONS.includes(obj.spec?.reason as BackupReason)
    ? (obj.spec!.reason as BackupReason)
    : 'manual';
  const scheduledTime = typeof obj.spec?.scheduledTime === 'string' ? obj.spec.scheduledTime : undefined;
  const input: BackupWorkflowInput = { namespace, databaseName, backupName: name, reason, scheduledTime };
  const workflowId = backupWorkflowId(namespace, name);
  const phase = obj.status?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed') return { kind: 'run', workflowId, input };
  const token = annotations?.[RETRY_ANNOTATION];
  if (phase === 'Failed' && token)
    return { kind: 'retry', workflowId, input: { ...input, retryToken: token }, token };
  return undefined;
}

export interface BackupStarterOptions {
  client: Client;
  taskQueue: string;
  logger: Logger;
  backoff?: BackoffOptions;
  requestTimeoutMs?: number;
}

/** Starts the runs backupStartFor asks for, retrying transient trouble with backoff. */
export class BackupStarter {
  /** `<uid>` of runs known started, `<uid>/<token>` of retries known started. */
  private readonly done = new Set<string>();
  private readonly sender: KeyedSender<BackupStart, boolean>;

  constructor(private readonly opts: BackupStarterOptions) {
    const log = opts.logger.child({ part: 'backup-starter' });
    this.sender = new KeyedSender<BackupStart, boolean>({
      what: 'backup start',
      logger: log,
      send: (start, signal) =>
        temporalCall(opts.client, signal, opts.requestTimeoutMs ?? 20_000, () => this.start(start)),
      backoff: opts.backoff,
      logFields: (start) => ({ workflowId: start.workflowId, kind: start.kind }),
      onSent: (key, start, started) => {
        this.done.add(key);
        if (started) log.info({ workflowId: start.workflowId, kind: start.kind }, 'backup run started');
      },
    });
    this.sender.start();
  }

  observe(obj: BackupObject): void {
    const start = backupStartFor(obj);
    const uid = obj.metadata?.uid;
    if (!start || !uid) return;
    const key = start.kind === 'retry' ? `${uid}/${start.token}` : uid;
    // The same start again (informer updates while it runs): one is enough.
    if (this.done.has(key) || this.sender.pending(key)) return;
    this.sender.submit(key, start);
  }

  stop(): Promise<void> {
    return this.sender.stop();
  }

  /** Starts the run; false when Temporal already has it (started or finished before). */
  private async start(start: BackupStart): Promise<boolean> {
    const { client, taskQueue } = this.opts;
    if (start.kind === 'retry') {
      try {
        const described = await client.workflow.getHandle(start.workflowId).describe();
        if (described.memo?.retryToken === start.token) return false; // this retry ran already
        if (described.status.name === 'RUNNING') throw new Error('the previous run is still finishing');
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }
    try {
      await client.workflow.start(BACKUP_WORKFLOW_TYPE, {
        workflowId: start.workflowId,
        taskQueue,
        args: [start.input],
        // A backup not finished whose run ended without finishing it (terminated, timed out,
        // failed) gets a fresh run, which takes its last attempt up; one that completed is
        // never run again without a retry token.
        workflowIdReusePolicy:
          start.kind === 'retry'
            ? WorkflowIdReusePolicy.ALLOW_DUPLICATE
            : WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        ...(start.kind === 'retry' ? { memo: { retryToken: start.token } } : {}),
      });
      return true;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
      throw err;
    }
  }
}

/** `/apis/durable.dev/v1alpha1[/namespaces/<ns>]/databasebackups`. */
export function backupPath(namespace?: string): string {
  const ns = namespace ? `/namespaces/${namespace}` : '';
  return `/apis/${GROUP}/${VERSION}${ns}/${DATABASE_BACKUP.plural}`;
}

export interface BackupInformerOptions {
  kubeConfig: k8s.KubeConfig;
  namespace?: string;
  starter: BackupStarter;
  logger: Logger;
  watchdogMs?: number;
  backoff?: BackoffOptions;
  onActivity?: () => void;
  onEvent?: (event: InformerEvent) => void;
}

export function createBackupInformer(opts: BackupInformerOptions): ResilientInformer<BackupObject> {
  const { kubeConfig, namespace, starter } = opts;
  const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const resource = { group: GROUP, version: VERSION, plural: DATABASE_BACKUP.plural };
  const list = (): Promise<k8s.KubernetesListObject<BackupObject>> =>
    namespace
      ? custom.listNamespacedCustomObject({ ...resource, namespace })
      : custom.listClusterCustomObject(resource);
  const seen = (obj: BackupObject) => starter.observe(obj);
  return new ResilientInformer<BackupObject>({
    name: `databasebackups/${namespace ?? '*'}`,
    kubeConfig,
    path: backupPath(namespace),
    list,
    logger: opts.logger,
    watchdogMs: opts.watchdogMs,
    backoff: opts.backoff,
    onActivity: opts.onActivity,
    onEvent: opts.onEvent,
    handlers: { add: seen, update: seen },
  });
}
