import type { V1PodSpec } from '@kubernetes/client-node';
import {
  backupOwner,
  configHash,
  renderBackupJob,
  renderConfigMap,
  renderDeleteDataJob,
  renderRestoreJob,
  renderStatefulSet,
  S3_CLIENT_IMAGE,
  selectorLabels,
} from '.';
import type { DatabaseSpecInput } from '../../crds';
import { target } from './test-fixtures';

const scheduling: NonNullable<DatabaseSpecInput['scheduling']> = {
  nodeSelector: { 'node-role.example.com/db': 'true' },
  tolerations: [
    { key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
  ],
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['a', 'b'] }] },
        ],
      },
    },
  },
};

function memberPod(spec: Partial<DatabaseSpecInput>): V1PodSpec {
  const t = target(spec);
  return renderStatefulSet(t, { configHash: configHash(renderConfigMap(t)) }).spec!.template.spec!;
}

const spread = (t: ReturnType<typeof target>) => ({
  preferredDuringSchedulingIgnoredDuringExecution: [
    {
      weight: 100,
      podAffinityTerm: {
        labelSelector: { matchLabels: selectorLabels(t) },
        topologyKey: 'kubernetes.io/hostname',
      },
    },
  ],
});

describe('spec.scheduling on the members', () => {
  it('without it: only the preferred anti-affinity on kubernetes.io/hostname', () => {
    const pod = memberPod({});
    expect(pod.affinity).toEqual({ podAntiAffinity: spread(target()) });
    expect(pod.nodeSelector).toBeUndefined();
    expect(pod.tolerations).toBeUndefined();
    expect(pod.topologySpreadConstraints).toBeUndefined();
  });

  it('copies nodeSelector, tolerations and nodeAffinity as typed fields, keeping the default spread', () => {
    const pod = memberPod({ engine: 'mariadb', version: '11.8', scheduling });
    expect(pod.nodeSelector).toEqual({ 'node-role.example.com/db': 'true' });
    expect(pod.tolerations).toEqual(scheduling.tolerations);
    expect(pod.affinity).toEqual({
      nodeAffinity: scheduling.affinity!.nodeAffinity,
      podAntiAffinity: spread(target({ engine: 'mariadb', version: '11.8' })),
    });
    // Nothing of it reaches a command line or a script.
    const commands = JSON.stringify(
      [...pod.containers, ...(pod.initContainers ?? [])].map((c) => [c.command, c.args]),
    );
    expect(commands).not.toContain('dedicated');
    expect(commands).not.toContain('node-role');
  });

  it('a given podAntiAffinity replaces the default one', () => {
    const podAntiAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'orders' } },
          topologyKey: 'kubernetes.io/hostname',
        },
      ],
    };
    expect(memberPod({ scheduling: { affinity: { podAntiAffinity } } }).affinity).toEqual({
      podAntiAffinity,
    });
  });

  it('gives a spread constraint without labelSelector the members of this Database', () => {
    const pod = memberPod({
      scheduling: {
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' },
          {
            maxSkew: 2,
            topologyKey: 'kubernetes.io/hostname',
            whenUnsatisfiable: 'ScheduleAnyway',
            labelSelector: { matchLabels: { tier: 'db' } },
          },
        ],
      },
    });
    expect(pod.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: selectorLabels(target()) },
      },
      {
        maxSkew: 2,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: { tier: 'db' } },
      },
    ]);
  });

  it('defaults a toleration operator to Equal, as Kubernetes does', () => {
    const pod = memberPod({ scheduling: { tolerations: [{ key: 'dedicated', value: 'db' }] } });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'db' }]);
  });
});

describe('spec.scheduling on the Jobs', () => {
  const owner = backupOwner('orders-1', 'b-uid');
  const s3 = { credentialsSecret: 's3-keys' };
  const s3Target = { s3: { bucket: 'backups', credentialsSecret: 's3-keys' } };
  const withPodAffinity = {
    ...scheduling,
    affinity: {
      ...scheduling.affinity,
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { a: 'b' } }, topologyKey: 'kubernetes.io/hostname' },
        ],
      },
    },
  };
  const jobs = (spec: Partial<DatabaseSpecInput>) => {
    const db = target(spec);
    const pvc = 'pvc://orders-backups/orders/orders-1.sql.gz';
    const url = 's3://backups/orders/orders-1.sql.gz';
    return [
      renderBackupJob({ db, primary: 0, jobName: 'orders-1-1', owner }, 'orders-1'),
      renderBackupJob(
        { db: target({ ...spec, backup: { target: s3Target } }), primary: 0, jobName: 'b', owner },
        'b',
      ),
      renderRestoreJob({ db, primary: 0, jobName: 'orders-restore', owner }, pvc),
      renderRestoreJob({ db, primary: 0, jobName: 'orders-restore', owner }, url, s3),
      renderDeleteDataJob({ db, jobName: 'orders-1-delete', owner }, pvc),
      renderDeleteDataJob({ db, jobName: 'orders-1-delete', owner }, url, s3),
    ].map((j) => j.spec!.template.spec!);
  };

  it('backup, restore and delete Jobs get nodeSelector, tolerations and nodeAffinity, no pod (anti-)affinity', () => {
    for (const pod of jobs({ scheduling: withPodAffinity })) {
      expect(pod.nodeSelector).toEqual(scheduling.nodeSelector);
      expect(pod.tolerations).toEqual(scheduling.tolerations);
      expect(pod.affinity).toEqual({ nodeAffinity: scheduling.affinity!.nodeAffinity });
      expect(pod.topologySpreadConstraints).toBeUndefined();
    }
  });

  it('without spec.scheduling the Jobs have no scheduling fields at all', () => {
    for (const pod of jobs({})) {
      expect(pod.nodeSelector).toBeUndefined();
      expect(pod.tolerations).toBeUndefined();
      expect(pod.affinity).toBeUndefined();
    }
  });

  it('moves S3 objects with amazon/aws-cli 2.9.19', () => {
    expect(S3_CLIENT_IMAGE).toBe('amazon/aws-cli:2.9.19');
    const images = jobs({}).flatMap((p) =>
      [...(p.initContainers ?? []), ...p.containers].map((c) => c.image),
    );
    expect(images).toContain('amazon/aws-cli:2.9.19');
  });
});
