import fs from 'node:fs';
import path from 'node:path';
import { apiGet, apiRequest, type ApiAccess } from './api';

/**
 * The stack's volume provisioner, in the way of Rancher's local-path-provisioner: a claim of the
 * `standard` StorageClass (WaitForFirstConsumer) gets, once the scheduler has picked a node for its
 * pod, a `local` PersistentVolume on a directory of the stack, bound to that node by node
 * affinity (the data is where the pod first ran, as with local disks); a released volume's
 * directory is removed with it. The directories are world-writable, as local-path makes them, so
 * a non-root engine can create its data directory in it; the kubelet applies fsGroup.
 *
 * (The controller manager's host-path provisioner makes root-owned 0750 directories under /tmp,
 * which no non-root pod can write, and which outlive a crashed stack.)
 */
export const PROVISIONER = 'durable.dev/local-path';
export const STORAGE_CLASS = 'standard';

interface Claim {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
  spec: { storageClassName?: string; volumeName?: string; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string };
}

interface Volume {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { local?: { path: string }; claimRef?: { uid?: string } };
  status?: { phase?: string };
}

export class LocalPathProvisioner {
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;

  constructor(
    private readonly api: ApiAccess,
    private readonly volumesDir: string,
    private readonly log: (msg: string) => void,
  ) {
    fs.mkdirSync(volumesDir, { recursive: true });
  }

  start(): this {
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.pass().finally(tick), 400);
    };
    tick();
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One pass over claims and volumes; errors are logged and the next pass tries again. */
  async pass(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const claims =
        (await apiGet<{ items: Claim[] }>(this.api, '/api/v1/persistentvolumeclaims'))?.items ?? [];
      const volumes = (await apiGet<{ items: Volume[] }>(this.api, '/api/v1/persistentvolumes'))?.items ?? [];
      const ours = volumes.filter(
        (v) => v.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] === PROVISIONER,
      );
      const claimed = new Set(ours.map((v) => v.spec.claimRef?.uid));
      for (const claim of claims) {
        const node = claim.metadata.annotations?.['volume.kubernetes.io/selected-node'];
        if (
          claim.spec.storageClassName === STORAGE_CLASS &&
          !claim.spec.volumeName &&
          node &&
          !claimed.has(claim.metadata.uid)
        ) {
          await this.provision(claim, node);
        }
      }
      for (const volume of ours) {
        if (volume.status?.phase === 'Released' || volume.status?.phase === 'Failed')
          await this.remove(volume);
      }
    } catch (err) {
      this.log(`local-path provisioner: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.running = false;
    }
  }

  private async provision(claim: Claim, node: string): Promise<void> {
    const name = `pvc-${claim.metadata.uid}`;
    const dir = path.join(
      this.volumesDir,
      `${claim.metadata.namespace}_${claim.metadata.name}_${claim.metadata.uid}`,
    );
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o777);
    const pv = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
      spec: {
        capacity: { storage: claim.spec.resources?.requests?.storage ?? '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: STORAGE_CLASS,
        volumeMode: 'Filesystem',
        local: { path: dir },
        claimRef: {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          namespace: claim.metadata.namespace,
          name: claim.metadata.name,
          uid: claim.metadata.uid,
        },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
            ],
          },
        },
      },
    };
    const res = await apiRequest(
      'POST',
      `${this.api.server}/api/v1/persistentvolumes`,
      this.api.token,
      JSON.stringify(pv),
      'application/json',
    );
    if (res.status !== 201 && res.status !== 409)
      throw new Error(`create ${name}: ${res.status} ${res.body}`);
  }

  private async remove(volume: Volume): Promise<void> {
    const dir = volume.spec.local?.path;
    if (dir && dir.startsWith(`${this.volumesDir}/`)) fs.rmSync(dir, { recursive: true, force: true });
    const res = await apiRequest(
      'DELETE',
      `${this.api.server}/api/v1/persistentvolumes/${volume.metadata.name}`,
      this.api.token,
    );
    if (res.status !== 200 && res.status !== 404) {
      throw new Error(`delete ${volume.metadata.name}: ${res.status} ${res.body}`);
    }
  }
}
