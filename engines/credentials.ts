import { inspect } from 'node:util';

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
