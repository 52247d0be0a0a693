import { ApplicationFailure } from '@temporalio/activity';
import { SECRET_KEYS, objectNames } from '../contracts/names';
import { EngineCredentials } from '../engines/credentials';
import { kubeRead } from './errors';
import type { KubeClients } from './kube-clients';

/**
 * Reads `<db>-credentials`. A missing Secret or key is retryable: the workflow ensures the
 * Secret before any engine step, so its absence is a race (or a deletion being repaired).
 */
export async function readCredentials(
  clients: KubeClients,
  namespace: string,
  database: string,
): Promise<EngineCredentials> {
  const name = objectNames(database).secret;
  const what = `Secret ${namespace}/${name}`;
  const secret = await kubeRead(what, () => clients.core.readNamespacedSecret({ name, namespace }));
  if (!secret) throw ApplicationFailure.retryable(`${what} not found`, 'CredentialsMissing');
  const value = (key: string): string => {
    const encoded = secret.data?.[key];
    // The message names the key, never a value.
    if (!encoded) throw ApplicationFailure.retryable(`${what} has no key ${key}`, 'CredentialsMissing');
    return Buffer.from(encoded, 'base64').toString('utf8');
  };
  return new EngineCredentials(
    value(SECRET_KEYS.username),
    value(SECRET_KEYS.password),
    value(SECRET_KEYS.replicationUsername),
    value(SECRET_KEYS.replicationPassword),
  );
}
