import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { binary } from './binaries';
import { freePort } from './ports';
import type { ProcessGroup } from './processes';
import { S3Client, type S3Credentials } from './s3-client';
import { waitFor } from './wait';

/**
 * The stack's S3-compatible object store: versitygw with its posix backend (each bucket a
 * directory under the data dir), where S3 backups go in tests and in `npm run dev`. Its root
 * credentials are made per stack and kept in a file only root may read; they reach versitygw by
 * its environment, never its command line, and are never logged.
 */
export interface ObjectStoreInfo {
  /** The S3 endpoint, `http://ip:port`, as pods on the real nodes and processes here reach it. */
  endpoint: string;
  region: string;
  /** JSON `{accessKeyId, secretAccessKey, region}`, mode 0600. */
  credentialsFile: string;
  dataDir: string;
}

export interface ObjectStoreOptions {
  dir: string;
  /** The address to listen on: the control plane's with real nodes (pods reach it), else loopback. */
  ip: string;
  /** Keep the credentials and the objects of an earlier run of this stack. */
  persist: boolean;
  log: (msg: string) => void;
}

const PROCESS = 'versitygw';
const REGION = 'us-east-1';
const HEALTH_PATH = '/health';

export class ObjectStore {
  private constructor(
    readonly info: ObjectStoreInfo,
    private readonly procs: ProcessGroup,
    private readonly port: number,
    private readonly credentials: S3Credentials,
  ) {}

  static async start(procs: ProcessGroup, opts: ObjectStoreOptions): Promise<ObjectStore> {
    const base = path.join(opts.dir, 'object-store');
    const dataDir = path.join(base, 'data');
    const credentialsFile = path.join(base, 'credentials.json');
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const credentials = readOrMakeCredentials(credentialsFile, opts.persist);
    const port = await freePort();
    const info: ObjectStoreInfo = {
      endpoint: `http://${opts.ip}:${port}`,
      region: REGION,
      credentialsFile,
      dataDir,
    };
    const store = new ObjectStore(info, procs, port, credentials);
    opts.log(`S3 object store (versitygw) on ${info.endpoint}, credentials in ${credentialsFile}`);
    await store.resume();
    return store;
  }

  /** A client with the root credentials. */
  client(): S3Client {
    return new S3Client(this.info.endpoint, this.credentials);
  }

  /** Starts the server again on the same address, with the same data (after `halt`). */
  async resume(): Promise<void> {
    const host = new URL(this.info.endpoint).hostname;
    this.procs.start(
      PROCESS,
      binary('versitygw'),
      ['--port', `${host}:${this.port}`, '--health', HEALTH_PATH, 'posix', this.info.dataDir],
      {
        ROOT_ACCESS_KEY_ID: this.credentials.accessKeyId,
        ROOT_SECRET_ACCESS_KEY: this.credentials.secretAccessKey,
        VGW_REGION: this.info.region,
        // Debug logging would print requests; "silent" is the default, said here so that no
        // VGW_LOG_LEVEL in the environment can turn it on.
        VGW_LOG_LEVEL: 'silent',
      },
    );
    await waitFor(
      'the S3 object store',
      async () => {
        this.procs.assertRunning(PROCESS);
        const res = await fetch(`${this.info.endpoint}${HEALTH_PATH}`, {
          signal: AbortSignal.timeout(2_000),
        }).catch(() => undefined);
        return res?.ok;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }

  /** Stops the server (a real outage: connections are refused); the data stays. */
  async halt(): Promise<void> {
    await this.procs.stop(PROCESS);
  }
}

function readOrMakeCredentials(file: string, reuse: boolean): S3Credentials {
  if (reuse && fs.existsSync(file)) return readCredentials(file);
  const credentials: S3Credentials = {
    accessKeyId: `DURABLE${crypto.randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: crypto.randomBytes(30).toString('base64url'),
    region: REGION,
  };
  fs.rmSync(file, { force: true });
  // Written with its mode from the start: there is no moment at which others may read it.
  fs.writeFileSync(file, JSON.stringify(credentials), { mode: 0o600, flag: 'wx' });
  return credentials;
}

/** The store's root credentials (the caller must be allowed to read the file: root). */
export function readCredentials(file: string): S3Credentials {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as S3Credentials;
}
