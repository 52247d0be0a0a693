import { API_VERSION, DATABASE, DATABASE_BACKUP } from './names';

/** Objects around an example spec, as `kubectl apply` or a create call takes them. */

/** A Database manifest for a spec, ready for `kubectl apply` or a create call. */
export function databaseManifest(name: string, spec: unknown, namespace?: string) {
  return manifest(DATABASE.kind, name, spec, namespace);
}

/** A DatabaseBackup manifest for a spec. */
export function databaseBackupManifest(name: string, spec: unknown, namespace?: string) {
  return manifest(DATABASE_BACKUP.kind, name, spec, namespace);
}

function manifest(kind: string, name: string, spec: unknown, namespace: string | undefined) {
  return {
    apiVersion: API_VERSION,
    kind,
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec,
  };
}
