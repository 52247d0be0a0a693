import { API_VERSION } from '../../crds';
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
