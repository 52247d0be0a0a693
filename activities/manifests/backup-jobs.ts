import type {
  V1Container,
  V1EnvVar,
  V1Job,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Volume,
} from '@kubernetes/client-node';
import {
  API_VERSION,
  DATABASE_BACKUP,
  LABEL_BACKUP_DATABASE,
  LABEL_COMPONENT,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  OPERATOR_NAME,
  type DatabaseBackupConfig,
} from '../../crds';
import { defaultBackupClaimName } from '../../contracts/backup-names';
import type { DatabaseTarget } from '../types';
import {
  backupScript,
  deleteDataScript,
  PASSWORD_ENV,
  restoreScript,
  s3Script,
  SCRIPT_ENV,
} from './backup-scripts';
import { engineProfile, podSecurityContext } from './engines';
import { memberHost, objectNames } from '../../contracts/names';
import { prune } from './prune';
import { jobScheduling } from './scheduling';
import { SECRET_KEYS } from '../../contracts/names';

/**
 * Pure renderers of the Jobs that back up, restore and delete backup data, and of the PVC that
 * holds the dumps. The scripts they run are in backup-scripts.ts.
 *
 * Every Job: backoffLimit 0 (the backup workflow owns the retries and numbers its attempts), a
 * deadline, restartPolicy Never, the engine's own image (it carries pg_dump/psql or
 * mysqldump/mysql), non-root with a read-only root filesystem (scratch space in emptyDirs),
 * credentials only by secretKeyRef, and its result as JSON in the termination message, which
 * the operator reads from the pod's status (no pods/log permission needed).
 */

/** S3 client image for the S3 target (`aws s3 cp`). */
export const S3_CLIENT_IMAGE = 'amazon/aws-cli:2.9.19';
/** Where a backup target is mounted in the Job's containers. */
export const BACKUP_MOUNT = '/backups';
const TMP_VOLUME = 'tmp';
const TARGET_VOLUME = 'target';
/** A backup that takes longer than this is stuck; the workflow then counts a failed attempt. */
export const DEFAULT_JOB_DEADLINE_SECONDS = 3600;
/** Keys of the S3 credentials Secret, read as the AWS CLI's own variables. */
export const S3_SECRET_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

/** Where the dumps of a Database go. */
export type BackupStorage =
  | { kind: 'pvc'; claimName: string; /** the operator creates the claim */ managed: boolean }
  | { kind: 's3'; bucket: string; prefix?: string; endpoint?: string; credentialsSecret: string };

export function backupStorage(databaseName: string, backup: DatabaseBackupConfig): BackupStorage {
  const s3 = backup.target?.s3;
  if (s3) {
    return {
      kind: 's3',
      bucket: s3.bucket,
      prefix: s3.prefix,
      endpoint: s3.endpoint,
      credentialsSecret: s3.credentialsSecret,
    };
  }
  const claimName = backup.target?.pvc?.claimName;
  return claimName
    ? { kind: 'pvc', claimName, managed: false }
    : { kind: 'pvc', claimName: defaultBackupClaimName(databaseName), managed: true };
}

/**
 * Where a backup's dump lives, as status.location says it: `pvc://<claim>/<db>/<backup>.sql.gz`
 * or `s3://<bucket>/<prefix>/<db>/<backup>.sql.gz`. The restore and delete Jobs work from it alone,
 * so that a backup stays usable after its Database's spec (or the Database itself) is gone.
 */
export function backupLocation(storage: BackupStorage, databaseName: string, backupName: string): string {
  const key = `${databaseName}/${backupName}.sql.gz`;
  if (storage.kind === 'pvc') return `pvc://${storage.claimName}/${key}`;
  const prefix = (storage.prefix ?? '').replace(/^\/+|\/+$/g, '');
  return `s3://${storage.bucket}/${prefix ? `${prefix}/` : ''}${key}`;
}

export type ParsedLocation = { kind: 'pvc'; claimName: string; path: string } | { kind: 's3'; url: string };

export function parseLocation(location: string): ParsedLocation | undefined {
  const pvc = /^pvc:\/\/([a-z0-9][-a-z0-9.]*)\/(.+\.sql\.gz)$/.exec(location);
  if (pvc && !pvc[2]!.split('/').includes('..')) return { kind: 'pvc', claimName: pvc[1]!, path: pvc[2]! };
  if (/^s3:\/\/[^/]+\/.+\.sql\.gz$/.test(location)) return { kind: 's3', url: location };
  return undefined;
}

/** Labels of everything backup-related; no app.kubernetes.io/instance, see LABEL_BACKUP_DATABASE. */
export function backupLabels(
  databaseName: string,
  engine: string,
  component: string,
): Record<string, string> {
  return {
    [LABEL_NAME]: engine,
    [LABEL_MANAGED_BY]: OPERATOR_NAME,
    [LABEL_COMPONENT]: component,
    [LABEL_BACKUP_DATABASE]: databaseName,
  };
}

/** A DatabaseBackup as the owner of its Jobs: deleting the backup (retention) removes them. */
export function backupOwner(backupName: string, uid: string): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: DATABASE_BACKUP.kind, name: backupName, uid };
}

/** The PVC for dumps, created when spec.backup.target.pvc.claimName is unset. */
export function renderBackupClaim(db: DatabaseTarget): V1PersistentVolumeClaim {
  const storage = db.spec.backup.target?.pvc?.size ?? db.spec.storage.size;
  return prune<V1PersistentVolumeClaim>({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: defaultBackupClaimName(db.name),
      namespace: db.namespace,
      labels: backupLabels(db.name, db.spec.engine, 'backup-storage'),
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: db.spec.storage.storageClassName,
      resources: { requests: { storage } },
    },
  });
}

export interface JobContext {
  /** The Database whose engine image, Secret and primary the Job uses. */
  db: DatabaseTarget;
  /** Ordinal of the primary (the role record's) when the Job is made; Jobs that connect need it. */
  primary?: number;
  jobName: string;
  /** The DatabaseBackup (or the Database, for a restore) that owns the Job. */
  owner: V1OwnerReference;
  deadlineSeconds?: number;
}

/** Runs the backup script into the target; with S3, the S3 client container uploads the dump. */
export function renderBackupJob(ctx: JobContext, backupName: string): V1Job {
  const { db } = ctx;
  const storage = backupStorage(db.name, db.spec.backup);
  const location = backupLocation(storage, db.name, backupName);
  const engine = engineContainer(
    ctx,
    'backup',
    backupScript(db.spec.engine),
    locationEnv(parseLocation(location)!, location),
  );
  if (storage.kind === 'pvc') return job(ctx, 'backup', [engine], [], pvcVolume(storage.claimName));
  const upload = s3Container('upload', storage.credentialsSecret, storage.endpoint, location);
  return job(ctx, 'backup', [upload], [engine], scratchVolume());
}

/** Pipes the dump at `location` into the primary of `ctx.db`. */
export function renderRestoreJob(
  ctx: JobContext,
  location: string,
  s3?: { credentialsSecret: string; endpoint?: string },
): V1Job {
  const parsed = parseLocation(location);
  if (!parsed) throw new Error(`renderRestoreJob: unsupported backup location ${location}`);
  const env = locationEnv(parsed, location);
  const restore = engineContainer(ctx, 'restore', restoreScript(ctx.db.spec.engine), env);
  if (parsed.kind === 'pvc') return job(ctx, 'restore', [restore], [], pvcVolume(parsed.claimName));
  if (!s3) throw new Error('renderRestoreJob: an S3 location needs S3 credentials');
  const download = s3Container('download', s3.credentialsSecret, s3.endpoint, location);
  return job(ctx, 'restore', [restore], [download], scratchVolume());
}

/** Deletes the dump at `location` (retention). */
export function renderDeleteDataJob(
  ctx: JobContext,
  location: string,
  s3?: { credentialsSecret: string; endpoint?: string },
): V1Job {
  const parsed = parseLocation(location);
  if (!parsed) throw new Error(`renderDeleteDataJob: unsupported backup location ${location}`);
  if (parsed.kind === 'pvc') {
    const rm = engineContainer(ctx, 'delete', deleteDataScript(), locationEnv(parsed, location), false);
    return job(ctx, 'backup-delete', [rm], [], pvcVolume(parsed.claimName));
  }
  if (!s3) throw new Error('renderDeleteDataJob: an S3 location needs S3 credentials');
  return job(
    ctx,
    'backup-delete',
    [s3Container('delete', s3.credentialsSecret, s3.endpoint, location)],
    [],
    [],
  );
}

// ---------------------------------------------------------------------------------------------

function locationEnv(parsed: ParsedLocation, location: string): V1EnvVar[] {
  return [
    {
      name: SCRIPT_ENV.file,
      value: parsed.kind === 'pvc' ? `${BACKUP_MOUNT}/${parsed.path}` : `${BACKUP_MOUNT}/dump.sql.gz`,
    },
    { name: SCRIPT_ENV.location, value: location },
  ];
}

function engineContainer(
  ctx: JobContext,
  name: string,
  script: string,
  extraEnv: V1EnvVar[],
  connects = true,
): V1Container {
  const { db } = ctx;
  const profile = engineProfile(db.spec.engine, db.spec.version, db.spec.image);
  const names = objectNames(db.name);
  const secret = names.secret;
  if (connects && ctx.primary === undefined) throw new Error(`${ctx.jobName}: no primary to connect to`);
  const connection: V1EnvVar[] = connects
    ? [
        // The primary when the Job is made, by its stable name through the headless Service
        // (which resolves before the member is Ready, unlike the primary Service). A failover
        // while the Job runs fails this attempt; the next attempt's Job names the new primary.
        {
          name: SCRIPT_ENV.host,
          value: memberHost({ namespace: db.namespace, database: db.name, ordinal: ctx.primary! }),
        },
        { name: SCRIPT_ENV.port, value: String(profile.port) },
        { name: SCRIPT_ENV.user, valueFrom: { secretKeyRef: { name: secret, key: SECRET_KEYS.username } } },
        {
          name: PASSWORD_ENV[db.spec.engine],
          valueFrom: { secretKeyRef: { name: secret, key: SECRET_KEYS.password } },
        },
      ]
    : [];
  return {
    name,
    image: profile.image,
    command: ['sh', '-c', script],
    env: [...connection, ...extraEnv, { name: 'HOME', value: '/tmp' }],
    volumeMounts: [
      { name: TMP_VOLUME, mountPath: '/tmp' },
      { name: TARGET_VOLUME, mountPath: BACKUP_MOUNT },
    ],
    ...containerDefaults(),
  };
}

function s3Container(
  op: 'upload' | 'download' | 'delete',
  credentialsSecret: string,
  endpoint: string | undefined,
  location: string,
): V1Container {
  const env: V1EnvVar[] = [
    ...S3_SECRET_KEYS.map((key) => ({
      name: key,
      valueFrom: { secretKeyRef: { name: credentialsSecret, key } },
    })),
    {
      name: 'AWS_DEFAULT_REGION',
      valueFrom: { secretKeyRef: { name: credentialsSecret, key: 'AWS_DEFAULT_REGION', optional: true } },
    },
    { name: SCRIPT_ENV.s3Url, value: location },
    ...(endpoint ? [{ name: SCRIPT_ENV.s3Endpoint, value: endpoint }] : []),
    { name: SCRIPT_ENV.file, value: `${BACKUP_MOUNT}/dump.sql.gz` },
    { name: 'HOME', value: '/tmp' },
  ];
  return {
    name: `s3-${op}`,
    image: S3_CLIENT_IMAGE,
    command: ['sh', '-c', s3Script(op)],
    env,
    volumeMounts: [
      { name: TMP_VOLUME, mountPath: '/tmp' },
      ...(op === 'delete' ? [] : [{ name: TARGET_VOLUME, mountPath: BACKUP_MOUNT }]),
    ],
    ...containerDefaults(),
  };
}

function containerDefaults(): Pick<
  V1Container,
  'resources' | 'securityContext' | 'terminationMessagePolicy'
> {
  return {
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    // The script writes its JSON result (or its error) there; a crash before that leaves the
    // tail of the log, which is still better than nothing.
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

function pvcVolume(claimName: string): V1Volume[] {
  return [{ name: TARGET_VOLUME, persistentVolumeClaim: { claimName } }];
}

function scratchVolume(): V1Volume[] {
  return [{ name: TARGET_VOLUME, emptyDir: {} }];
}

function job(
  ctx: JobContext,
  component: 'backup' | 'restore' | 'backup-delete',
  containers: V1Container[],
  initContainers: V1Container[],
  volumes: V1Volume[],
): V1Job {
  const { db } = ctx;
  const profile = engineProfile(db.spec.engine, db.spec.version, db.spec.image);
  const labels = backupLabels(db.name, db.spec.engine, component);
  return prune<V1Job>({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: ctx.jobName, namespace: db.namespace, labels, ownerReferences: [ctx.owner] },
    spec: {
      // The workflow retries (a new Job per attempt, so each attempt's pod and error stay visible).
      backoffLimit: 0,
      activeDeadlineSeconds: ctx.deadlineSeconds ?? DEFAULT_JOB_DEADLINE_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurityContext(profile),
          // Where the Database's pods may run (a tainted node pool, a zone): the Jobs too.
          ...jobScheduling(db.spec),
          initContainers: initContainers.length ? initContainers : undefined,
          containers,
          volumes: [{ name: TMP_VOLUME, emptyDir: {} }, ...volumes],
        },
      },
    },
  });
}
