import {
  API_VERSION,
  DATABASE_NAME_MESSAGES,
  databaseNameProblem,
  MAX_DATABASE_NAME_LENGTH,
  REVISION_HASH_MAX_LENGTH,
} from '../../crds';
import {
  backupJobName,
  defaultBackupClaimName,
  deleteDataJobName,
  preUpgradeBackupName,
  restoreJobName,
  scheduledBackupName,
} from '../../contracts/backup-names';
import {
  dataClaimName,
  endpointsFor,
  labelsFor,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  MANAGED_BY,
  objectNames,
  ownerReference,
  podName,
  selectorLabels,
} from '.';
import { target } from './test-fixtures';

describe('objectNames', () => {
  it('derives every owned object from the Database name', () => {
    expect(objectNames('orders')).toEqual({
      configMap: 'orders-config',
      roles: 'orders-roles',
      secret: 'orders-credentials',
      statefulSet: 'orders',
      headlessService: 'orders-headless',
      primaryService: 'orders-primary',
      readOnlyService: 'orders-ro',
    });
  });

  it('names pods and data claims as the StatefulSet controller does', () => {
    expect(podName('orders', 0)).toBe('orders-0');
    expect(dataClaimName('orders', 2)).toBe('data-orders-2');
  });
});

describe('endpointsFor', () => {
  it('gives the cluster DNS names of the primary and read-only Services', () => {
    expect(endpointsFor('shop', 'orders')).toEqual({
      primary: 'orders-primary.shop.svc.cluster.local',
      readOnly: 'orders-ro.shop.svc.cluster.local',
    });
  });
});

describe('labels', () => {
  it('carries the recommended labels', () => {
    expect(labelsFor(target({ engine: 'mysql', version: '8.0' }), 'config')).toEqual({
      [LABEL_NAME]: 'mysql',
      [LABEL_INSTANCE]: 'orders',
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_COMPONENT]: 'config',
    });
    expect(MANAGED_BY).toBe('durable-db-operator');
    expect(LABEL_NAME).toBe('app.kubernetes.io/name');
  });

  it('selects on engine, instance and component only, whatever the version or image', () => {
    const a = selectorLabels(target({ version: '15' }));
    const b = selectorLabels(target({ version: '16.2', image: 'registry.local/pg:16.2' }));
    expect(a).toEqual(b);
    expect(a).toEqual({
      [LABEL_NAME]: 'postgres',
      [LABEL_INSTANCE]: 'orders',
      [LABEL_COMPONENT]: 'database',
    });
    expect(Object.values(a)).not.toContain('15');
  });

  it('makes the selector a subset of the database labels', () => {
    const t = target();
    expect(labelsFor(t, 'database')).toEqual(expect.objectContaining(selectorLabels(t)));
  });
});

describe('ownerReference', () => {
  it('makes the Database incarnation the controller', () => {
    const t = target();
    expect(ownerReference(t)).toEqual({
      apiVersion: API_VERSION,
      kind: 'Database',
      name: 'orders',
      uid: t.uid,
      controller: true,
      blockOwnerDeletion: true,
    });
    expect(API_VERSION).toBe('durable.dev/v1alpha1');
  });
});

describe('the longest Database name', () => {
  const longest = `a${'b'.repeat(MAX_DATABASE_NAME_LENGTH - 2)}c`;
  const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

  it('is accepted, and one character more is refused with a message that gives the limit', () => {
    expect(databaseNameProblem(longest)).toBeUndefined();
    expect(databaseNameProblem(`${longest}d`)).toBe(DATABASE_NAME_MESSAGES.tooLong);
    expect(DATABASE_NAME_MESSAGES.tooLong).toContain('at most 52 characters');
    expect(databaseNameProblem('1orders')).toBe(DATABASE_NAME_MESSAGES.pattern);
    expect(databaseNameProblem('orders.db')).toBe(DATABASE_NAME_MESSAGES.pattern);
    expect(databaseNameProblem('orders-db')).toBeUndefined();
  });

  it('gives names that fit where Kubernetes puts them', () => {
    const names = objectNames(longest);
    // Services: DNS-1035 labels; pods: hostnames and the pod-name label.
    for (const service of [names.headlessService, names.primaryService, names.readOnlyService]) {
      expect(service.length).toBeLessThanOrEqual(63);
      expect(service).toMatch(/^[a-z]/);
    }
    for (let ordinal = 0; ordinal < 5; ordinal++) {
      expect(podName(longest, ordinal)).toMatch(DNS_LABEL);
      expect(podName(longest, ordinal).length).toBeLessThanOrEqual(63);
      expect(dataClaimName(longest, ordinal).length).toBeLessThanOrEqual(253);
    }
    // The StatefulSet controller's controller-revision-hash label: <statefulset>-<hash>.
    const revision = `${names.statefulSet}-${'9'.repeat(REVISION_HASH_MAX_LENGTH)}`;
    expect(revision.length).toBe(63);
    expect(`${longest}d-${'9'.repeat(REVISION_HASH_MAX_LENGTH)}`.length).toBe(64);
    expect(names.configMap.length).toBeLessThanOrEqual(253);
    expect(names.secret.length).toBeLessThanOrEqual(253);
    // Label values.
    expect(labelsFor(target({}, longest), 'database')[LABEL_INSTANCE]!.length).toBeLessThanOrEqual(63);
    // Backup and restore Jobs, scheduled backups, the backup claim: shortened where needed.
    for (const derived of [
      restoreJobName(longest),
      defaultBackupClaimName(longest),
      scheduledBackupName(longest, new Date('2026-12-02T01:00:00Z')),
      preUpgradeBackupName(longest, 123456),
      backupJobName(scheduledBackupName(longest, new Date('2026-12-02T01:00:00Z')), 10),
      deleteDataJobName(preUpgradeBackupName(longest, 7)),
    ]) {
      expect([derived, derived.length <= 63]).toEqual([derived, true]);
    }
  });
});
