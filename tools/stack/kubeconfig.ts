import fs from 'node:fs';
import { stringify } from 'yaml';

/** Writes a kubeconfig that both kubectl and @kubernetes/client-node read. */
export function writeKubeconfig(
  file: string,
  server: string,
  caFile: string,
  user: string,
  token: string,
): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'durable-local', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'durable-local', context: { cluster: 'durable-local', user } }],
    'current-context': 'durable-local',
  };
  fs.writeFileSync(file, stringify(config), { mode: 0o600 });
}
