import { renderSecret } from '.';
import { target } from './test-fixtures';

const values = { password: 'pa$$ w0rd', replicationPassword: 'r3pl!ca' };
const decode = (data: Record<string, string> | undefined) =>
  Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );

describe('renderSecret', () => {
  it('holds the postgres credentials', () => {
    const secret = renderSecret(target(), values);
    expect(secret).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque' });
    expect(secret.metadata?.name).toBe('orders-credentials');
    expect(secret.stringData).toBeUndefined();
    expect(decode(secret.data)).toEqual({
      username: 'postgres',
      password: 'pa$$ w0rd',
      'replication-username': 'replicator',
      'replication-password': 'r3pl!ca',
      engine: 'postgres',
      host: 'orders-primary.shop.svc.cluster.local',
      port: '5432',
    });
  });

  it('holds the mysql credentials', () => {
    const data = decode(renderSecret(target({ engine: 'mysql', version: '8.0' }), values).data);
    expect(data).toMatchObject({ username: 'root', 'replication-username': 'replicator', port: '3306' });
  });

  it('puts no URL with the password in it', () => {
    const data = decode(renderSecret(target(), values).data);
    for (const [key, value] of Object.entries(data)) {
      if (key !== 'password' && key !== 'replication-password') expect(value).not.toContain(values.password);
    }
  });

  it('refuses empty passwords without echoing anything', () => {
    expect(() => renderSecret(target(), { ...values, password: '' })).toThrow(/password must not be empty/);
    expect(() => renderSecret(target(), { ...values, replicationPassword: '' })).toThrow(
      /replicationPassword must not be empty/,
    );
  });
});
