import crypto from 'node:crypto';

/**
 * `spec.parameters` travels by reference. The parameters are the only part of a Database's spec
 * that may be large (up to 100 settings), and they matter to one activity only (the ConfigMap's):
 * the watcher sends a spec without them and this digest instead, and that activity reads them from
 * the Database and checks the digest, so no workflow history holds them (issue 12: the spec once
 * per generation at most). Node-only (node:crypto): never imported by workflow code.
 */
export function parametersDigest(parameters: Readonly<Record<string, unknown>>): string {
  const entries = Object.keys(parameters)
    .sort()
    .map((k) => [k, parameters[k]]);
  return `sha256:${crypto.createHash('sha256').update(JSON.stringify(entries)).digest('hex')}`;
}

/**
 * The spec as the watcher signals it: without `parameters`, with their digest beside it. A spec
 * that is not an object, or whose parameters are not an object, is sent as it is (the workflow's
 * spec check reports what is wrong with it).
 */
export function splitParameters(spec: unknown): { spec: unknown; parametersDigest?: string } {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return { spec };
  const { parameters, ...rest } = spec as Record<string, unknown>;
  if (parameters === undefined) return { spec };
  if (!parameters || typeof parameters !== 'object' || Array.isArray(parameters)) return { spec };
  return { spec: rest, parametersDigest: parametersDigest(parameters as Record<string, unknown>) };
}
