import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** Where tools/build-binaries.sh puts the Go-built components of the stack. */
export const repoRoot = path.resolve(__dirname, '..', '..');
export const binDir = process.env.DURABLE_BIN_DIR ?? path.join(repoRoot, '.bin');

export type Binary =
  | 'temporal'
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy'
  | 'coredns'
  | 'kwok'
  | 'helm'
  /** The plain controller-runtime peer the cost benchmark measures the operator against. */
  | 'durable-peer'
  /** The S3-compatible object store of S3 backups. */
  | 'versitygw';

export function binary(name: Binary): string {
  const file = path.join(binDir, name);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run \`npm run binaries\` (tools/build-binaries.sh) first`);
  }
  return file;
}

/** kubectl from the machine, or the one build-binaries.sh built where the machine has none. */
export function kubectlPath(): string {
  const local = path.join(binDir, 'kubectl');
  if (fs.existsSync(local)) return local;
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('kubectl not found on PATH and not built into .bin: run `npm run binaries`');
  }
}
