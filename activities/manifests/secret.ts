import type { V1Secret } from '@kubernetes/client-node';
import type { DatabaseTarget } from '../types';
import { engineProfile, REPLICATION_USER } from './engines';
import { objectMeta } from './labels';
import { endpointsFor, objectNames, SECRET_KEYS } from '../../contracts/names';

export interface CredentialValues {
  password: string;
  replicationPassword: string;
}

/**
 * The credentials Secret. The caller generates the passwords and creates the Secret only if it is
 * absent: re-rendering it with new passwords must never reach an existing Secret.
 *
 * `engine`, `host` and `port` are there so an application can take all it needs to connect from
 * this one Secret (the Service Binding convention); no key holds a URL with the password in it.
 */
export function renderSecret(target: DatabaseTarget, values: CredentialValues): V1Secret {
  // The message names the field, never the value.
  if (values.password === '') throw new Error('renderSecret: password must not be empty');
  if (values.replicationPassword === '')
    throw new Error('renderSecret: replicationPassword must not be empty');
  const profile = engineProfile(target.spec.engine, target.spec.version);
  const fields: Record<string, string> = {
    [SECRET_KEYS.username]: profile.superuser,
    [SECRET_KEYS.password]: values.password,
    [SECRET_KEYS.replicationUsername]: REPLICATION_USER,
    [SECRET_KEYS.replicationPassword]: values.replicationPassword,
    [SECRET_KEYS.engine]: target.spec.engine,
    [SECRET_KEYS.host]: endpointsFor(target.namespace, target.name).primary,
    [SECRET_KEYS.port]: String(profile.port),
  };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMeta(target, objectNames(target.name).secret, 'credentials'),
    type: 'Opaque',
    // `data` rather than `stringData`: stringData is write-only and server-side apply tracks it
    // badly (the applied keys never show up as owned), while `data` reads back as it was written.
    data: Object.fromEntries(
      Object.entries(fields).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
    ),
  };
}
