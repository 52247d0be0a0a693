import { checkSpec, compareVersions, majorOf, reportedVersionMatches, SUPPORTED_MAJORS } from './spec-rules';

describe('checkSpec', () => {
  it('accepts a supported spec and applies the schema defaults', () => {
    const v = checkSpec({ engine: 'postgres', version: '16' });
    expect(v.ok).toBe(true);
    expect(v.spec).toMatchObject({ replicas: 1, deletionPolicy: 'Delete', storage: { size: '10Gi' } });
  });

  it.each([
    [{ engine: 'postgres', version: '9.6' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'mysql', version: '5.7' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'mariadb', version: '10.6' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'mariadb', version: '11' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'mariadb', version: '8.0' }, undefined, 'UnsupportedVersion'],
    [{ engine: 'mariadb', version: '11.4' }, '11.8', 'DowngradeNotAllowed'],
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
    expect(checkSpec({ engine: 'mariadb', version: '12.0', image: 'mariadb:12.0' }).ok).toBe(true);
  });

  it('supports PostgreSQL 15 and 17, MariaDB 10.11, 11.4 and 11.8, MySQL 8.0 and 8.4', () => {
    expect(SUPPORTED_MAJORS.postgres).toEqual(expect.arrayContaining(['15', '17']));
    expect(SUPPORTED_MAJORS.mariadb).toEqual(['10.11', '11.4', '11.8']);
    expect(SUPPORTED_MAJORS.mysql).toEqual(['8.0', '8.4']);
    for (const version of ['10.11', '10.11.9', '11.4', '11.8', '11.8.3']) {
      expect(checkSpec({ engine: 'mariadb', version }).ok).toBe(true);
    }
  });

  it('upgrades MariaDB in place across majors (10.11 → 11.8), not PostgreSQL', () => {
    expect(checkSpec({ engine: 'mariadb', version: '11.8' }, '10.11').ok).toBe(true);
    expect(majorOf('mariadb', '10.11.9')).toBe('10.11');
    expect(majorOf('postgres', '17.2')).toBe('17');
  });

  it.each([
    [{ engine: 'mariadb', version: '11.8' }, '11.8.3-MariaDB-0+deb13u1', true],
    [{ engine: 'mariadb', version: '10.11' }, '10.11.19-MariaDB-0+deb12u1', true],
    [{ engine: 'mariadb', version: '11.8' }, '11.4.7-MariaDB', false],
    [{ engine: 'mariadb', version: '11.8' }, '11.80.1-MariaDB', false],
    [{ engine: 'postgres', version: '17' }, '17.6 (Debian 17.6-1.pgdg12+1)', true],
    [{ engine: 'postgres', version: '15.10' }, '15.14', false],
    [{ engine: 'postgres', version: '15.10', image: 'postgres:15' }, '15.14', true],
    [{ engine: 'postgres', version: '16', image: 'postgres:15' }, '15.14', false],
    [{ engine: 'mysql', version: '8.4' }, '8.4.2', true],
    [{ engine: 'mysql', version: '8.0' }, 'garbage', false],
  ] as const)('%j reported as %s matches: %s', (spec, reported, ok) => {
    expect(reportedVersionMatches(spec, reported)).toBe(ok);
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
