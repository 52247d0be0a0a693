import type { Condition, Database, DatabaseSpecInput } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import { applyDatabase, getDatabase, startOperator, type RunningOperator } from '../support/operator';
import { deleteNamespace, kubectl, kubectlOk, uniqueName } from '../support/stack';

jest.setTimeout(600_000);

/**
 * Databases that can never become ready on real nodes, each for a reason a user meets: the
 * Ready condition's message must say that reason in words (read from the objects' status and
 * Events), and keep saying it in the same words from one readiness wait to the next (the kubelet
 * alternates ErrImagePull and ImagePullBackOff; the condition must not flip with it).
 */
const STABLE_FOR_MS = 75_000; // longer than one readiness wait (60 s): at least one more report
const missingClass = uniqueName('durable-test-missing');
const idleClass = uniqueName('durable-test-no-provisioner');
const idleProvisioner = 'durable.dev/nobody-runs-this';
const missingImage = 'localhost/durable-test/does-not-exist:1';

interface Case {
  name: string;
  spec: Partial<DatabaseSpecInput>;
  /** In the namespace with a quota of zero pods. */
  quota?: boolean;
  says: RegExp[];
}

const cases: Case[] = [
  {
    name: 'nosc',
    spec: { storage: { size: '1Gi', storageClassName: missingClass } },
    says: [new RegExp(`StorageClass "${missingClass}" does not exist`)],
  },
  {
    name: 'noprov',
    spec: { storage: { size: '1Gi', storageClassName: idleClass } },
    says: [
      /noprov-0: volume claim data-noprov-0 is not bound: ExternalProvisioning/,
      new RegExp(`${idleProvisioner}.*StorageClass "${idleClass}"`),
    ],
  },
  {
    name: 'noimage',
    spec: { image: missingImage },
    says: [/noimage-0: container [a-z-]+ cannot pull image "localhost\/durable-test\/does-not-exist:1"/],
  },
  {
    name: 'nowhere',
    spec: { scheduling: { nodeSelector: { 'durable.dev/test-no-such-node': 'true' } } },
    says: [
      /nowhere-0: Unschedulable: 0\/\d+ nodes are available/,
      /didn't match Pod's node affinity\/selector/,
    ],
  },
  {
    name: 'noquota',
    spec: {},
    quota: true,
    says: [/StatefulSet noquota cannot create its pods: .*exceeded quota/],
  },
];

const readyCondition = (db: Database | undefined): Condition | undefined =>
  db?.status?.conditions?.find((c) => c.type === 'Ready');

describe('the Ready condition says why a Database is blocked', () => {
  const ns = uniqueName('why');
  const quotaNs = uniqueName('why-quota');
  let op: RunningOperator | undefined;

  beforeAll(async () => {
    for (const n of [ns, quotaNs]) await kubectlOk(['create', 'namespace', n]);
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: idleClass },
        provisioner: idleProvisioner,
        // Immediate: the claim must bind before the pod can be scheduled, and never does.
        volumeBindingMode: 'Immediate',
      }),
    );
    await kubectlOk(
      ['apply', '-n', quotaNs, '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name: 'no-pods' },
        spec: { hard: { pods: '0' } },
      }),
    );
    op = await startOperator(`${ns},${quotaNs}`);
  });
  afterAll(async () => {
    await op?.stop();
    for (const n of [ns, quotaNs]) await deleteNamespace(n);
    await kubectl(['delete', 'storageclass', idleClass, '--ignore-not-found', '--wait=false']);
  });

  it('missing StorageClass, a claim no provisioner binds, an unpullable image, an unsatisfiable nodeSelector, a pod quota', async () => {
    const t0 = Date.now();
    for (const c of cases) {
      await applyDatabase(c.quota ? quotaNs : ns, c.name, {
        engine: 'postgres',
        version: '15',
        replicas: 1,
        ...c.spec,
      } as DatabaseSpecInput);
    }
    const seconds: Record<string, number> = {};
    const first = await Promise.all(
      cases.map(async (c) => {
        const where = c.quota ? quotaNs : ns;
        const ready = await waitFor(
          `${c.name}: Ready=False saying ${c.says.join(' and ')}`,
          async () => {
            const r = readyCondition(await getDatabase(where, c.name));
            return r?.status === 'False' && c.says.every((re) => re.test(r.message)) ? r : undefined;
          },
          { timeoutMs: 240_000, intervalMs: 1000 },
        ).catch(async (err: Error) => {
          const r = readyCondition(await getDatabase(where, c.name));
          throw new Error(`${err.message}; last Ready message: ${r?.message}`);
        });
        seconds[c.name] = Math.round((Date.now() - t0) / 1000);
        return ready;
      }),
    );
    process.stderr.write(`[status why] seconds to the message: ${JSON.stringify(seconds)}\n`);
    for (const r of first) {
      expect(r.message.length).toBeLessThanOrEqual(512);
      expect(r.message).not.toMatch(/password|\*\*\*/i);
    }

    // The same words for longer than a readiness wait: no flip between ErrImagePull and
    // ImagePullBackOff, no growing back-off, no counts.
    const seen = new Map<string, Set<string>>(cases.map((c) => [c.name, new Set<string>()]));
    const until = Date.now() + STABLE_FOR_MS;
    while (Date.now() < until) {
      for (const c of cases) {
        const r = readyCondition(await getDatabase(c.quota ? quotaNs : ns, c.name));
        if (r) seen.get(c.name)!.add(r.message);
      }
      await new Promise((res) => setTimeout(res, 2000));
    }
    for (const [i, c] of cases.entries()) {
      expect({ db: c.name, messages: [...seen.get(c.name)!] }).toEqual({
        db: c.name,
        messages: [first[i]!.message],
      });
    }
  });
});
