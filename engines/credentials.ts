import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/activity';
import { isNotFound, kubeCall } from '../activities/errors';
import type { KubeClients } from '../activities/kube-clients';
import { objectNames, SECRET_KEYS } from '../activities/manifests';

/**
 * The engine credentials of one Database, read from its Secret inside an activity. They never
 * leave the activity (DESIGN.md rule 3): this object refuses to be serialised or printed whole,
 * so a stray `JSON.stringify` or log line shows a placeholder instead of a password.
 */
export class EngineCredentials {
  constructor(
    readonly superuser: string,
    readonly password: string,
    readonly replicationUser: string,
    readonly replicationPassword: string,
  ) {}

  /** The secret values, for redacting them from any message that leaves the activity. */
  secrets(): string[] {
    return [this.password, this.replicationPassword].filter((s) => s.length > 0);
  }

  toJSON(): string {
    return `[credentials of ${this.superuser}/${this.replicationUser}]`;
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

/** Replaces every occurrence of a secret value in `text` (an engine's error message may echo SQL). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

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
  const secret = await kubeCall(`read ${what}`, async () => {
    try {
      return await clients.core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
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
