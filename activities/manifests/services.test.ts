import { ROLE_LABEL } from '../../crds';
import { POD_NAME_LABEL, renderServices, selectorLabels } from '.';
import { target } from './test-fixtures';

describe('renderServices', () => {
  const t = target();
  const [headless, primary, readOnly] = renderServices(t, { primary: 0 });

  it('names the three Services', () => {
    expect([headless, primary, readOnly].map((s) => s.metadata?.name)).toEqual([
      'orders-headless',
      'orders-primary',
      'orders-ro',
    ]);
  });

  it('makes the headless Service publish members before they are ready', () => {
    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(headless.spec?.selector).toEqual(selectorLabels(t));
    expect(headless.metadata?.labels?.['app.kubernetes.io/component']).toBe('database');
  });

  it('points the primary Service at the pod the role record names, and only that one', () => {
    expect(primary.spec?.type).toBe('ClusterIP');
    expect(primary.spec?.selector).toEqual({ ...selectorLabels(t), [POD_NAME_LABEL]: 'orders-0' });
    expect(primary.metadata?.labels?.['app.kubernetes.io/component']).toBe('service');
    const [, afterFailover] = renderServices(t, { primary: 2 });
    expect(afterFailover.spec?.selector).toEqual({ ...selectorLabels(t), [POD_NAME_LABEL]: 'orders-2' });
  });

  it('points the read-only Service at the replicas, or at the one member there is', () => {
    expect(readOnly.spec?.type).toBe('ClusterIP');
    expect(readOnly.spec?.selector).toEqual(selectorLabels(t));
    expect(readOnly.spec?.publishNotReadyAddresses).toBeUndefined();
    const three = target({ replicas: 3 });
    const [, , replicas] = renderServices(three, { primary: 0 });
    expect(replicas.spec?.selector).toEqual({ ...selectorLabels(three), [ROLE_LABEL]: 'replica' });
  });

  it('targets the container port by name', () => {
    for (const service of [headless, primary, readOnly]) {
      expect(service.spec?.ports).toEqual([{ name: 'db', port: 5432, targetPort: 'db', protocol: 'TCP' }]);
    }
    const [, mysqlPrimary] = renderServices(target({ engine: 'mysql', version: '8.0' }), { primary: 0 });
    expect(mysqlPrimary.spec?.ports?.[0]?.port).toBe(3306);
  });
});
