import zlib from 'node:zlib';
import { control } from '../../tools/stack/control';
import { objectStoreClient, provisionS3Target, type S3Target } from '../../tools/stack/s3-bucket';
import type { S3Object } from '../../tools/stack/s3-client';
import { stackInfo, uniqueName } from './stack';

/**
 * The stack's S3 object store (versitygw, tools/stack/object-store.ts) as a backup test uses it:
 * a bucket and a credentials Secret of the test's own, the objects as the store lists them, and
 * a real outage (the server stopped, connections refused) and its end.
 */

/** A new bucket and, in `namespace`, a Secret `s3-keys` with credentials for it. */
export function s3TargetFor(namespace: string): Promise<S3Target> {
  return provisionS3Target(stackInfo(), {
    namespace,
    bucket: uniqueName('backups'),
    secretName: 's3-keys',
  });
}

export function listStoreObjects(bucket: string, prefix = ''): Promise<S3Object[]> {
  return objectStoreClient(stackInfo()).listObjects(bucket, prefix);
}

/** An object from the store, gunzipped (the dumps are `.sql.gz`). */
export async function readGzippedObject(bucket: string, key: string): Promise<string> {
  const bytes = await objectStoreClient(stackInfo()).getObject(bucket, key);
  return zlib.gunzipSync(bytes).toString('utf8');
}

/** `s3://bucket/key` → its parts. */
export function parseS3Url(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (!m) throw new Error(`not an s3:// location: ${url}`);
  return { bucket: m[1]!, key: m[2]! };
}

export const stopObjectStore = (): Promise<void> => control(stackInfo().dir, 'object-store/stop');
export const startObjectStore = (): Promise<void> => control(stackInfo().dir, 'object-store/start');
