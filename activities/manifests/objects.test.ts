import type { KubernetesObject } from '@kubernetes/client-node';
import {
  configHash,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  ownerReference,
  renderConfigMap,
  renderSecret,
  renderServices,
  renderStatefulSet,
} from '.';
import { target, undefinedPaths } from './test-fixtures';

function renderAll(t: ReturnType<typeof target>): KubernetesObject[] {
  const configMap = renderConfigMap(t);
  return [
    configMap,
    renderSecret(t, { password: 'pw-123456', replicationPassword: 'rpw-123456' }),
    renderStatefulSet(t, { configHash: configHash(configMap) }),
    ...renderServices(t, { primary: 0 }),
  ];
}

describe.each([
  ['postgres', target({ replicas: 2, size: 'small', parameters: { work_mem: '8MB' } })],
  [
    'mysql',
    target({ engine: 'mysql', version: '8.0.36', storage: { size: '5Gi', storageClassName: 'local' } }),
  ],
])('every %s object', (_engine, t) => {
  const objects = renderAll(t);

  it('is ready for server-side apply', () => {
    for (const object of objects) {
      expect(object.apiVersion).toBeTruthy();
      expect(object.kind).toBeTruthy();
      expect(object.metadata?.namespace).toBe('shop');
      expect(object.metadata?.name).toMatch(/^orders/);
      expect(undefinedPaths(object)).toEqual([]);
      expect(object).not.toHaveProperty('status');
      expect(object.metadata).not.toHaveProperty('managedFields');
      expect(object.metadata).not.toHaveProperty('resourceVersion');
    }
  });

  it('is owned by the Database and labelled as its own', () => {
    for (const object of objects) {
      expect(object.metadata?.ownerReferences).toEqual([ownerReference(t)]);
      expect(object.metadata?.labels?.[LABEL_MANAGED_BY]).toBe(MANAGED_BY);
      expect(object.metadata?.labels?.[LABEL_INSTANCE]).toBe('orders');
    }
  });

  it('has distinct names per kind', () => {
    const keys = objects.map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('is rendered identically every time', () => {
    expect(JSON.stringify(renderAll(t))).toBe(JSON.stringify(objects));
  });

  it('does not mention the passwords outside the Secret', () => {
    for (const object of objects.filter((o) => o.kind !== 'Secret')) {
      expect(JSON.stringify(object)).not.toMatch(/pw-123456/);
    }
  });
});
