import { checkSpec, compareVersions } from './spec-rules';

describe('checkSpec', () => {
  it('accepts a supported spec and applies the schema defaults', () => {
    const v = checkSpec({ engine: 'postgres', version: '16' });
    expect(v.ok).toBe(true);
    expect(v.spec).toMatchObject({ replicas: 1, deletionPolicy: 'Delete', storage: { size: '10Gi' } });
  });

  it.each([
    [{ engine: 'postgres', version: '9.6' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'mysql', version: '5.7' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'postgres', version: '15' }, '16', 'DowngradeNotAllowed'],
    [{ engine: 'postgres', version: '17' }, '16.4', 'MajorUpgradeNotAllowed'],
    [{ engine: 'postgres', version: '16', replicas: 9 }, undefined, 'InvalidSpec'],
  ])('rejects %j (running %s) with %s', (spec, running, reason) => {
    const v = checkSpec(spec, running);
    expect(v.ok).toBe(false);
    expect(v.reason).toBe(reason);
    expect(v.message).toBeTruthy();
  });

  it('allows minor upgrades, MySQL 8.0 → 8.4, and any version with an image override', () => {
    expect(checkSpec({ engine: 'postgres', version: '16.4' }, '16.2').ok).toBe(true);
    expect(checkSpec({ engine: 'mysql', version: '8.4' }, '8.0').ok).toBe(true);
    expect(checkSpec({ engine: 'mysql', version: '11.4', image: 'mariadb:11.4' }).ok).toBe(true);
  });

  it('accepts spec.bootstrap.fromBackup (the backup itself is checked by an activity)', () => {
    const v = checkSpec({ engine: 'postgres', version: '16', bootstrap: { fromBackup: { name: 'b1' } } });
    expect(v.ok).toBe(true);
    expect(v.spec?.bootstrap?.fromBackup?.name).toBe('b1');
  });

  it('compares dotted versions numerically', () => {
    expect(compareVersions('8.10', '8.9')).toBe(1);
    expect(compareVersions('16', '16.0')).toBe(0);
    expect(compareVersions('15.4', '16')).toBe(-1);
  });
});
