import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPLICA_BOOTSTRAP_SCRIPT } from '.';
import { RECLONE_MARK } from '../../contracts/names';

/**
 * The init container's decisions, run with the real sh: which member clones and which keeps its
 * data. pg_basebackup is a stand-in on PATH that records its arguments and writes a cluster, since
 * what is under test is the script's choice, not PostgreSQL's clone (the replication and failover
 * integration tests clone for real).
 */
describe('the replica bootstrap script', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.mkdirSync(path.join(dir, 'roles'));
    const fake = `#!/bin/sh
echo "$@" > "${dir}/cloned"
while [ $# -gt 0 ]; do [ "$1" = -D ] && mkdir -p "$2" && echo 17 > "$2/PG_VERSION" && touch "$2/standby.signal"; shift; done
`;
    fs.writeFileSync(path.join(dir, 'bin', 'pg_basebackup'), fake, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (pod: string, roles: Record<string, string>, pgdata?: 'primary' | 'standby' | 'marked') => {
    for (const [key, value] of Object.entries(roles)) fs.writeFileSync(path.join(dir, 'roles', key), value);
    const data = path.join(dir, 'pgdata');
    if (pgdata) {
      fs.mkdirSync(data);
      fs.writeFileSync(path.join(data, 'PG_VERSION'), '17');
      fs.writeFileSync(path.join(data, 'postmaster.opts'), 'old');
      if (pgdata === 'standby') fs.writeFileSync(path.join(data, 'standby.signal'), '');
      // As postgresMarkForReclone leaves it: COPY TO writes the word and a newline.
      if (pgdata === 'marked') fs.writeFileSync(path.join(data, 'standby.signal'), `${RECLONE_MARK}\n`);
    }
    const out = execFileSync('sh', ['-c', REPLICA_BOOTSTRAP_SCRIPT], {
      env: {
        PATH: `${dir}/bin:/usr/bin:/bin`,
        PGDATA: data,
        PRIMARY_HOST: 'orders-primary.shop.svc',
        PRIMARY_PORT: '5432',
        POD_NAME: pod,
        POD_INDEX: pod.split('-').pop()!,
        ROLES_DIR: path.join(dir, 'roles'),
        FIRST_PRIMARY: 'orders-0',
        REPLICATION_USER: 'replicator',
      },
      encoding: 'utf8',
    });
    const cloned = fs.existsSync(path.join(dir, 'cloned'));
    const kept = fs.existsSync(path.join(data, 'postmaster.opts'));
    return { out, cloned, kept, args: cloned ? fs.readFileSync(path.join(dir, 'cloned'), 'utf8') : '' };
  };

  it('leaves the primary the record names alone, data or not', () => {
    expect(run('orders-2', { primary: 'orders-2' }, 'primary')).toMatchObject({ cloned: false, kept: true });
  });

  it('takes member 0 for the primary when there is no record yet', () => {
    expect(run('orders-0', {})).toMatchObject({ cloned: false });
  });

  it('clones a new member from the primary Service through its own slot', () => {
    const r = run('orders-1', { primary: 'orders-0' });
    expect(r.cloned).toBe(true);
    expect(r.args).toContain('-h orders-primary.shop.svc -p 5432 -U replicator');
    expect(r.args).toContain('-S replica_1');
  });

  it('keeps a standby as it is', () => {
    expect(run('orders-1', { primary: 'orders-2' }, 'standby')).toMatchObject({ cloned: false, kept: true });
  });

  it('re-clones a former primary once another member is primary, replacing its data only then', () => {
    const r = run('orders-0', { primary: 'orders-2' }, 'primary');
    expect(r).toMatchObject({ cloned: true, kept: false });
    expect(r.out).toContain('holds a former primary and orders-2 is the primary now');
  });

  it('re-clones a standby the operator marked as diverged, replacing its data only then', () => {
    const r = run('orders-1', { primary: 'orders-0' }, 'marked');
    expect(r).toMatchObject({ cloned: true, kept: false });
    expect(r.out).toContain("diverged from orders-0's timeline");
  });

  it('does not re-clone the primary, marked or not', () => {
    expect(run('orders-0', { primary: 'orders-0' }, 'marked')).toMatchObject({ cloned: false, kept: true });
  });

  it('does not start a former primary as one while a failover moves the role away from it', () => {
    const r = run('orders-0', { primary: 'orders-0', targetPrimary: 'orders-1' }, 'primary');
    expect(r.cloned).toBe(true);
  });
});
