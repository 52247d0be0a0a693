import type { V1Container, V1Job } from '@kubernetes/client-node';
import {
  backupLocation,
  backupOwner,
  backupScript,
  backupStorage,
  deleteDataScript,
  parseLocation,
  renderBackupClaim,
  renderBackupJob,
  renderDeleteDataJob,
  renderRestoreJob,
  restoreScript,
  s3Script,
} from '.';
import { target, undefinedPaths } from './test-fixtures';

const owner = backupOwner('orders-202611220300', 'b-uid');
const s3Target = {
  s3: {
    bucket: 'backups',
    prefix: '/prod/',
    endpoint: 'https://minio.example:9000',
    credentialsSecret: 's3-keys',
  },
};

const containers = (job: V1Job): V1Container[] => [
  ...(job.spec!.template.spec!.initContainers ?? []),
  ...job.spec!.template.spec!.containers,
];
const envOf = (c: V1Container) =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('backup Job', () => {
  const db = target({ backup: { enabled: true, schedule: '0 3 * * *' } });
  const job = renderBackupJob(
    { db, primary: 0, jobName: 'orders-202611220300-2', owner },
    'orders-202611220300',
  );

  it('runs the engine image once (the workflow retries), under a deadline, owned by its DatabaseBackup', () => {
    expect(job.metadata).toMatchObject({
      name: 'orders-202611220300-2',
      namespace: 'shop',
      ownerReferences: [owner],
    });
    expect(job.metadata!.labels).toMatchObject({
      'durable.dev/database': 'orders',
      'app.kubernetes.io/component': 'backup',
    });
    // No instance label: the release of a Database deletes PVCs by it, and backups outlive it.
    expect(job.metadata!.labels!['app.kubernetes.io/instance']).toBeUndefined();
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600 });
    expect(job.spec!.template.spec!.restartPolicy).toBe('Never');
    const [c] = job.spec!.template.spec!.containers;
    expect(c!.image).toBe('postgres:16');
    expect(c!.command).toEqual(['sh', '-c', backupScript('postgres')]);
    expect(c!.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(undefinedPaths(job)).toEqual([]);
  });

  it('takes the credentials by secretKeyRef only, and dumps member 0 to the default backup volume', () => {
    const [c] = job.spec!.template.spec!.containers;
    const env = envOf(c!);
    expect(env.PGPASSWORD).toEqual({ secretKeyRef: { name: 'orders-credentials', key: 'password' } });
    expect(env.DB_USER).toEqual({ secretKeyRef: { name: 'orders-credentials', key: 'username' } });
    expect(
      (c!.env ?? []).filter((e) => /PASSWORD|PWD/.test(e.name)).every((e) => e.value === undefined),
    ).toBe(true);
    expect(env).toMatchObject({
      DB_HOST: 'orders-0.orders-headless.shop.svc',
      DB_PORT: '5432',
      BACKUP_FILE: '/backups/orders/orders-202611220300.sql.gz',
      BACKUP_LOCATION: 'pvc://orders-backups/orders/orders-202611220300.sql.gz',
    });
    expect(job.spec!.template.spec!.volumes).toContainEqual({
      name: 'target',
      persistentVolumeClaim: { claimName: 'orders-backups' },
    });
  });

  it('is non-root with a read-only root filesystem (scratch in an emptyDir)', () => {
    const pod = job.spec!.template.spec!;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999 });
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of containers(job)) {
      expect(c.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    }
  });

  it('mysql: the mysql image with MYSQL_PWD; a named claim is used as it is', () => {
    const my = target({
      engine: 'mysql',
      version: '8.4',
      backup: { target: { pvc: { claimName: 'nfs-dumps' } } },
    });
    const j = renderBackupJob({ db: my, primary: 0, jobName: 'x-1', owner, deadlineSeconds: 600 }, 'x');
    const [c] = j.spec!.template.spec!.containers;
    expect(c!.image).toBe('mysql:8.4');
    expect(c!.command).toEqual(['sh', '-c', backupScript('mysql')]);
    expect(envOf(c!).MYSQL_PWD).toEqual({ secretKeyRef: { name: 'orders-credentials', key: 'password' } });
    expect(envOf(c!).BACKUP_LOCATION).toBe('pvc://nfs-dumps/orders/x.sql.gz');
    expect(j.spec!.activeDeadlineSeconds).toBe(600);
  });

  it('mariadb: the mariadb image with MYSQL_PWD and the mariadb-* tools only', () => {
    const maria = target({ engine: 'mariadb', version: '11.8' });
    const j = renderBackupJob({ db: maria, primary: 0, jobName: 'x-1', owner }, 'x');
    const [c] = j.spec!.template.spec!.containers;
    expect(c!.image).toBe('mariadb:11.8');
    expect(c!.command).toEqual(['sh', '-c', backupScript('mariadb')]);
    expect(envOf(c!).MYSQL_PWD).toEqual({ secretKeyRef: { name: 'orders-credentials', key: 'password' } });
    const r = renderRestoreJob(
      { db: maria, primary: 0, jobName: 'r', owner },
      'pvc://orders-backups/orders/x.sql.gz',
    );
    expect(r.spec!.template.spec!.containers[0]!.command).toEqual(['sh', '-c', restoreScript('mariadb')]);
  });

  it('scripts: mariadb-dump/mariadb for mariadb (11.x has no mysql* names), mysqldump/mysql for mysql', () => {
    const words = (script: string) => new Set(script.match(/\b(mariadb-dump|mariadb|mysqldump|mysql)(?= )/g));
    expect(words(backupScript('mariadb'))).toEqual(new Set(['mariadb', 'mariadb-dump']));
    expect(words(restoreScript('mariadb'))).toEqual(new Set(['mariadb']));
    expect(backupScript('mariadb')).not.toMatch(/\bmysql(dump|admin)?\s+\$conn/);
    expect(words(backupScript('mysql'))).toEqual(new Set(['mysql', 'mysqldump']));
    expect(words(restoreScript('mysql'))).toEqual(new Set(['mysql']));
    expect(backupScript('mysql')).toContain('--set-gtid-purged=OFF');
    expect(backupScript('mariadb')).not.toContain('gtid-purged');
  });

  it('S3: the engine container dumps to scratch, the S3 client uploads with keys from the credentials Secret', () => {
    const j = renderBackupJob(
      { db: target({ backup: { target: s3Target } }), primary: 0, jobName: 'b-1', owner },
      'b',
    );
    const [dump] = j.spec!.template.spec!.initContainers!;
    const [upload] = j.spec!.template.spec!.containers;
    expect(dump!.command).toEqual(['sh', '-c', backupScript('postgres')]);
    expect(upload!.command).toEqual(['sh', '-c', s3Script('upload')]);
    expect(envOf(upload!)).toMatchObject({
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 's3-keys', key: 'AWS_ACCESS_KEY_ID' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 's3-keys', key: 'AWS_SECRET_ACCESS_KEY' } },
      S3_URL: 's3://backups/prod/orders/b.sql.gz',
      S3_ENDPOINT: 'https://minio.example:9000',
      BACKUP_FILE: '/backups/dump.sql.gz',
    });
    expect(envOf(dump!).BACKUP_FILE).toBe('/backups/dump.sql.gz');
    expect(j.spec!.template.spec!.volumes).toContainEqual({ name: 'target', emptyDir: {} });
  });
});

describe('restore and delete-data Jobs', () => {
  const db = target({}, 'orders-copy');
  const location = 'pvc://orders-backups/orders/orders-1.sql.gz';

  it('restore: same engine image, reads the dump from the source volume into the primary of the new Database', () => {
    const j = renderRestoreJob({ db, primary: 0, jobName: 'orders-copy-restore', owner }, location);
    const [c] = j.spec!.template.spec!.containers;
    expect(c!.command).toEqual(['sh', '-c', restoreScript('postgres')]);
    expect(envOf(c!)).toMatchObject({
      DB_HOST: 'orders-copy-0.orders-copy-headless.shop.svc',
      BACKUP_FILE: '/backups/orders/orders-1.sql.gz',
      PGPASSWORD: { secretKeyRef: { name: 'orders-copy-credentials', key: 'password' } },
    });
    // After a failover, the primary the role record names.
    const later = renderRestoreJob({ db, primary: 2, jobName: 'orders-copy-restore', owner }, location);
    expect(envOf(later.spec!.template.spec!.containers[0]!).DB_HOST).toBe(
      'orders-copy-2.orders-copy-headless.shop.svc',
    );
    expect(j.spec!.template.spec!.volumes).toContainEqual({
      name: 'target',
      persistentVolumeClaim: { claimName: 'orders-backups' },
    });
  });

  it('restore from S3 downloads first; an S3 location without credentials is refused', () => {
    const s3 = 's3://backups/prod/orders/orders-1.sql.gz';
    const j = renderRestoreJob({ db, primary: 0, jobName: 'r', owner }, s3, { credentialsSecret: 's3-keys' });
    expect(j.spec!.template.spec!.initContainers![0]!.command).toEqual(['sh', '-c', s3Script('download')]);
    expect(() => renderRestoreJob({ db, primary: 0, jobName: 'r', owner }, s3)).toThrow(/credentials/);
  });

  it('delete-data removes the file (no database connection, no password)', () => {
    const j = renderDeleteDataJob({ db, jobName: 'orders-1-delete', owner }, location);
    const [c] = j.spec!.template.spec!.containers;
    expect(c!.command).toEqual(['sh', '-c', deleteDataScript()]);
    expect(Object.keys(envOf(c!))).toEqual(['BACKUP_FILE', 'BACKUP_LOCATION', 'HOME']);
  });
});

describe('backup storage and locations', () => {
  it('defaults to a PVC <db>-backups the size of the data volume, or target.pvc.size', () => {
    const claim = renderBackupClaim(target({ storage: { size: '50Gi', storageClassName: 'fast' } }));
    expect(claim.metadata).toMatchObject({ name: 'orders-backups', namespace: 'shop' });
    expect(claim.spec).toMatchObject({
      storageClassName: 'fast',
      resources: { requests: { storage: '50Gi' } },
    });
    const sized = renderBackupClaim(target({ backup: { target: { pvc: { size: '5Gi' } } } }));
    expect(sized.spec!.resources!.requests!.storage).toBe('5Gi');
    expect(backupStorage('orders', target().spec.backup)).toEqual({
      kind: 'pvc',
      claimName: 'orders-backups',
      managed: true,
    });
  });

  it('names locations the restore and delete Jobs can parse back, and refuses path escapes', () => {
    const pvc = backupLocation({ kind: 'pvc', claimName: 'c', managed: true }, 'orders', 'b');
    expect(parseLocation(pvc)).toEqual({ kind: 'pvc', claimName: 'c', path: 'orders/b.sql.gz' });
    const s3 = backupLocation({ kind: 's3', bucket: 'bk', credentialsSecret: 's' }, 'orders', 'b');
    expect(s3).toBe('s3://bk/orders/b.sql.gz');
    expect(parseLocation(s3)).toEqual({ kind: 's3', url: s3 });
    expect(parseLocation('pvc://c/../etc/passwd.sql.gz')).toBeUndefined();
    expect(parseLocation('file:///tmp/x.sql.gz')).toBeUndefined();
  });
});
