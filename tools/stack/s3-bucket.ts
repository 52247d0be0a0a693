import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { S3_SECRET_KEYS } from '../../activities/manifests/backup-jobs';
import { kubectlPath } from './binaries';
import { readCredentials } from './object-store';
import { S3Client } from './s3-client';
import type { StackInfo } from './stack';

const run = promisify(execFile);

const [ACCESS_KEY_ID, SECRET_ACCESS_KEY] = S3_SECRET_KEYS;

export interface S3Target {
  bucket: string;
  endpoint: string;
  credentialsSecret: string;
}

/** A client of the stack's object store with its root credentials. */
export function objectStoreClient(info: StackInfo): S3Client {
  return new S3Client(info.objectStore.endpoint, readCredentials(info.objectStore.credentialsFile));
}

/**
 * Makes a bucket in the stack's object store and, in `namespace`, a Secret with credentials for
 * it, so that a Database's `spec.backup.target.s3` can be the returned target. The Secret goes
 * to the API server on kubectl's stdin (never its command line), by server-side apply (no
 * last-applied annotation repeating the keys).
 */
export async function provisionS3Target(
  info: StackInfo,
  opts: { namespace: string; bucket: string; secretName: string },
): Promise<S3Target> {
  const credentials = readCredentials(info.objectStore.credentialsFile);
  await new S3Client(info.objectStore.endpoint, credentials).createBucket(opts.bucket);
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: opts.secretName,
      namespace: opts.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'durable-stack' },
    },
    type: 'Opaque',
    stringData: {
      [ACCESS_KEY_ID]: credentials.accessKeyId,
      [SECRET_ACCESS_KEY]: credentials.secretAccessKey,
      // The optional key the Jobs read as the S3 client's region.
      AWS_DEFAULT_REGION: credentials.region,
    },
  };
  const child = run(kubectlPath(), [
    `--kubeconfig=${info.kubernetes.kubeconfig}`,
    'apply',
    '--server-side',
    '--field-manager=durable-stack',
    '--force-conflicts',
    '-f',
    '-',
  ]);
  child.child.stdin?.end(JSON.stringify(secret));
  await child;
  return { bucket: opts.bucket, endpoint: info.objectStore.endpoint, credentialsSecret: opts.secretName };
}
