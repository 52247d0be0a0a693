import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { control, serveControl } from './control';
import { ObjectStore, readCredentials } from './object-store';
import { ProcessGroup } from './processes';
import { S3Client } from './s3-client';

// The real versitygw (from .bin) on loopback, in a directory of its own: what the stack starts.
describe('the stack object store', () => {
  let dir: string;
  let procs: ProcessGroup;
  let store: ObjectStore;
  let controlServer: Awaited<ReturnType<typeof serveControl>> | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'object-store-'));
    procs = new ProcessGroup(dir, path.join(dir, 'logs'));
    store = await ObjectStore.start(procs, { dir, ip: '127.0.0.1', persist: false, log: () => undefined });
  });
  afterAll(async () => {
    controlServer?.close();
    await procs.stopAll(2_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps its root credentials in a file only its owner reads, and nowhere in its command line or log', () => {
    const file = store.info.credentialsFile;
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const { accessKeyId, secretAccessKey } = readCredentials(file);
    expect(secretAccessKey.length).toBeGreaterThanOrEqual(32);
    const pid = (JSON.parse(fs.readFileSync(path.join(dir, 'pids.json'), 'utf8')) as { pid: number }[])[0]!
      .pid;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const log = fs.readFileSync(path.join(dir, 'logs', 'versitygw.log'), 'utf8');
    for (const text of [cmdline, log]) {
      expect(text).not.toContain(secretAccessKey);
      expect(text).not.toContain(accessKeyId);
    }
  });

  it('stores, lists and returns objects for its credentials, and refuses others', async () => {
    const s3 = store.client();
    await s3.createBucket('backups');
    await s3.createBucket('backups'); // again: already ours, fine
    const body = Buffer.from([0x1f, 0x8b, 0x00, 0xff]);
    await s3.putObject('backups', 'prod/db/b 1.sql.gz', body);
    expect(await s3.listObjects('backups', 'prod/')).toEqual([
      expect.objectContaining({ key: 'prod/db/b 1.sql.gz', size: 4 }),
    ]);
    expect(await s3.getObject('backups', 'prod/db/b 1.sql.gz')).toEqual(body);

    const stranger = new S3Client(store.info.endpoint, {
      ...readCredentials(store.info.credentialsFile),
      secretAccessKey: 'not-the-secret',
    });
    const refused = await stranger.request('GET', '/backups', { query: { 'list-type': '2' } });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('SignatureDoesNotMatch');
  });

  it('goes down and comes back through the control socket, with its objects', async () => {
    controlServer = await serveControl(dir, {
      'object-store/stop': () => store.halt(),
      'object-store/start': () => store.resume(),
    });
    const s3 = store.client();
    await s3.putObject('backups', 'kept.sql.gz', Buffer.from('kept'));

    await control(dir, 'object-store/stop');
    // A real outage: the connection is refused, not answered with an error.
    await expect(s3.listObjects('backups')).rejects.toThrow(/fetch failed/);

    await control(dir, 'object-store/start');
    expect((await s3.listObjects('backups')).map((o) => o.key)).toContain('kept.sql.gz');
    expect(fs.statSync(path.join(dir, 'control.sock')).mode & 0o777).toBe(0o600);
  });
});
