import type {
  V1ObjectMeta,
  V1Container,
  V1EnvVar,
  V1PodTemplateSpec,
  V1Probe,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { ENGINE_BUILD_ANNOTATION, UPGRADING_FROM_ANNOTATION } from '../../crds';
import type { DatabaseTarget } from '../types';
import {
  engineProfile,
  podSecurityContext,
  POD_INDEX_ENV,
  REPLICATION_USER,
  type EngineProfile,
} from './engines';
import { labelsFor, objectMeta, POD_INDEX_LABEL, selectorLabels } from './labels';
import {
  CONFIG_HASH_ANNOTATION,
  CONFIG_VOLUME,
  CONTAINER_NAME,
  DATA_VOLUME,
  objectNames,
  podName,
  PORT_NAME,
  ROLE_KEYS,
  ROLES_MOUNT_PATH,
  ROLES_VOLUME,
  serviceHost,
} from '../../contracts/names';
import { prune } from './prune';
import { memberScheduling } from './scheduling';
import { resourcesFor } from './resources';
import { RECLONE_MARK, SECRET_KEYS } from '../../contracts/names';

export const TERMINATION_GRACE_PERIOD_SECONDS = 30;

/**
 * The StatefulSet of the database members. `configHash` is `configHash(renderConfigMap(target))`;
 * `partition` (default 0): members with a lower ordinal keep the previous template.
 *
 * Its selector, serviceName, podManagementPolicy and volumeClaimTemplates are immutable once
 * created: everything in them derives from the Database's name and engine (both immutable),
 * except the storage size and class, whose changes the API server rejects (422).
 */
function withAnnotations(meta: V1ObjectMeta, annotations: Record<string, string>): V1ObjectMeta {
  return { ...meta, annotations: { ...meta.annotations, ...annotations } };
}

const buildJson = (b: { version: string; image?: string }) =>
  JSON.stringify({ version: b.version, ...(b.image && { image: b.image }) });

/**
 * `upgradingFrom`: the build the members not yet moved run, while an upgrade moves them
 * (UPGRADING_FROM_ANNOTATION); an apply without it removes the annotation (same field manager).
 */
export function renderStatefulSet(
  target: DatabaseTarget,
  {
    configHash,
    partition = 0,
    upgradingFrom,
  }: { configHash: string; partition?: number; upgradingFrom?: { version: string; image?: string } },
): V1StatefulSet {
  const { spec } = target;
  const names = objectNames(target.name);
  return prune<V1StatefulSet>({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: withAnnotations(objectMeta(target, names.statefulSet, 'database'), {
      [ENGINE_BUILD_ANNOTATION]: buildJson(spec),
      ...(upgradingFrom && { [UPGRADING_FROM_ANNOTATION]: buildJson(upgradingFrom) }),
    }),
    spec: {
      replicas: spec.replicas,
      serviceName: names.headlessService,
      selector: { matchLabels: selectorLabels(target) },
      // Members start one after another: a replica is cloned from a running primary.
      podManagementPolicy: 'OrderedReady',
      // Partition 0 updates every member; an upgrade (workflows/upgrade.ts) raises it to the
      // replica count while it changes the template, then lowers it one member at a time.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } },
      persistentVolumeClaimRetentionPolicy: {
        whenDeleted: spec.deletionPolicy === 'Delete' ? 'Delete' : 'Retain',
        // PostgreSQL: a member scaled away loses its slot, so the primary stops keeping WAL for
        // it and its data soon cannot catch up any more; scaling up again clones it anew from a
        // fresh volume. MySQL: a returning member catches up from the binlog by GTID, so its data
        // is kept and reused.
        whenScaled:
          engineProfile(spec.engine, spec.version).replicaBootstrap === 'clone' ? 'Delete' : 'Retain',
      },
      template: podTemplate(target, configHash),
      volumeClaimTemplates: [
        {
          // No apiVersion/kind: the template is immutable, so it must read back exactly as sent.
          metadata: { name: DATA_VOLUME, labels: labelsFor(target, 'database') },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: spec.storage.storageClassName,
            resources: { requests: { storage: spec.storage.size } },
          },
        },
      ],
    },
  });
}

/**
 * Holds only what the pods need: a field that changes here rolls every member, so nothing that
 * changes with a mere spec edit (generation, replicas) may appear.
 */
function podTemplate(target: DatabaseTarget, configHash: string): V1PodTemplateSpec {
  const { spec } = target;
  const profile = engineProfile(spec.engine, spec.version, spec.image);
  const names = objectNames(target.name);
  return {
    metadata: {
      labels: { ...labelsFor(target, 'database'), ...selectorLabels(target) },
      annotations: {
        [CONFIG_HASH_ANNOTATION]: configHash,
        'kubectl.kubernetes.io/default-container': CONTAINER_NAME,
      },
    },
    spec: {
      terminationGracePeriodSeconds: TERMINATION_GRACE_PERIOD_SECONDS,
      // The database never talks to the Kubernetes API.
      automountServiceAccountToken: false,
      // Service links would inject variables such as POSTGRES_PORT=tcp://… for every Service in
      // the namespace, which collide with the names the images read.
      enableServiceLinks: false,
      securityContext: podSecurityContext(profile),
      // spec.scheduling, with the members spread across nodes by default.
      ...memberScheduling(target),
      ...(profile.replicaBootstrap === 'clone' && { initContainers: [bootstrapReplica(target, profile)] }),
      containers: [container(target, profile)],
      volumes: [
        { name: CONFIG_VOLUME, configMap: { name: names.configMap } },
        // Read when a member starts (bootstrapReplica); optional, so that a pod can start before
        // the record exists (member 0 of a Database made before it).
        ...(profile.replicaBootstrap === 'clone'
          ? [{ name: ROLES_VOLUME, configMap: { name: names.roles, optional: true } }]
          : []),
      ],
    },
  };
}

function container(target: DatabaseTarget, profile: EngineProfile): V1Container {
  const { spec } = target;
  const names = objectNames(target.name);
  const configMount =
    profile.configMount === 'directory'
      ? { name: CONFIG_VOLUME, mountPath: profile.configMountPath, readOnly: true }
      : // A single file, so the image's own files in conf.d stay visible next to it.
        {
          name: CONFIG_VOLUME,
          mountPath: `${profile.configMountPath}/${profile.configFileName}`,
          subPath: profile.configFileName,
          readOnly: true,
        };
  return {
    name: CONTAINER_NAME,
    image: profile.image,
    args: profile.args,
    ports: [{ name: PORT_NAME, containerPort: profile.port, protocol: 'TCP' }],
    env: env(profile, names.secret),
    resources: resourcesFor(spec),
    volumeMounts: [{ name: DATA_VOLUME, mountPath: profile.dataMountPath }, configMount],
    // A first start runs initdb or mysqld --initialize and a restart may replay WAL or redo logs:
    // the startup probe gives that ten minutes before liveness may kill the container.
    // Polled every 2 s: a member is Ready within 2 s of accepting connections (the kubelet only
    // starts the readiness probe once this one passed), instead of up to 10 s later.
    startupProbe: probe(profile.readinessCommand, { periodSeconds: 2, failureThreshold: 300 }),
    readinessProbe: probe(profile.readinessCommand, { periodSeconds: 10, failureThreshold: 3 }),
    livenessProbe: probe(profile.livenessCommand, { periodSeconds: 10, failureThreshold: 6 }),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** The init container that clones a PostgreSQL replica from the primary. */
export const BOOTSTRAP_REPLICA_CONTAINER = 'bootstrap-replica';

/** How long one clone attempt waits for its connection to the primary (libpq connect_timeout). */
const CLONE_CONNECT_TIMEOUT_SECONDS = 5;

/**
 * Makes a member that is not the primary a standby before its engine starts. Which member is the
 * primary it reads from the role record (activities/roles.ts, mounted at ROLES_MOUNT_PATH: the
 * failover's target while one runs, else the primary; no record yet means member 0). The primary
 * itself is left alone, and so is a standby (a restart, or a member scaled down and up again with
 * its volume).
 *
 * Otherwise PGDATA is empty (a new member), holds a former primary (a failover made another
 * member primary while this one was away) or a standby the operator marked as diverged from the
 * primary's timeline (RECLONE_MARK in its standby.signal: activities/rejoin.ts): either way the
 * member is cloned from the primary
 * through the primary Service with pg_basebackup (-R: as a standby of that Service, so that it
 * follows the next failover by itself, through its own slot), retrying until the primary, the
 * replication role and the slot exist: the workflow creates those as soon as the primary answers,
 * while this container may already run. The clone goes to a side directory that replaces PGDATA
 * only when complete, so a clone cut short (pod deleted) is never mistaken for a cluster and a
 * former primary's data is given up only for a complete copy of the new primary's. `-c fast` asks
 * for an immediate checkpoint rather than waiting for a spread one. No `$(`…`)` in the script:
 * the kubelet would take it for a variable reference.
 */
export const REPLICA_BOOTSTRAP_SCRIPT = `set -eu
primary="$FIRST_PRIMARY"
if [ -s "$ROLES_DIR/${ROLE_KEYS.targetPrimary}" ]; then
  primary=\`cat "$ROLES_DIR/${ROLE_KEYS.targetPrimary}"\`
elif [ -s "$ROLES_DIR/${ROLE_KEYS.primary}" ]; then
  primary=\`cat "$ROLES_DIR/${ROLE_KEYS.primary}"\`
fi
if [ "$POD_NAME" = "$primary" ]; then
  echo "$POD_NAME is the primary: nothing to clone"
  exit 0
fi
if [ -s "$PGDATA/PG_VERSION" ]; then
  if [ -f "$PGDATA/standby.signal" ] && grep -q ${RECLONE_MARK} "$PGDATA/standby.signal"; then
    echo "$PGDATA holds a standby that diverged from $primary's timeline (the operator marked it):" \\
      "cloning $primary (the diverged data is kept until the clone is complete)"
  elif [ -f "$PGDATA/standby.signal" ]; then
    echo "$PGDATA already holds a standby: nothing to clone"
    exit 0
  else
    echo "$PGDATA holds a former primary and $primary is the primary now: cloning $primary" \\
      "(the former primary's data is kept until the clone is complete)"
  fi
fi
partial="$PGDATA.partial"
attempt=1
until rm -rf "$partial" && pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" -w \\
    -D "$partial" -R -X stream -c fast -S "replica_$POD_INDEX"; do
  echo "clone attempt $attempt from $PRIMARY_HOST:$PRIMARY_PORT failed; retrying in 5s" \\
    "($primary, its role $REPLICATION_USER or slot replica_$POD_INDEX may not be ready yet)" >&2
  attempt=\`expr $attempt + 1\`
  sleep 5
done
rm -rf "$PGDATA"
mv "$partial" "$PGDATA"
echo "cloned $primary into $PGDATA"
`;

function bootstrapReplica(target: DatabaseTarget, profile: EngineProfile): V1Container {
  const names = objectNames(target.name);
  return {
    name: BOOTSTRAP_REPLICA_CONTAINER,
    image: profile.image,
    command: ['sh', '-c', REPLICA_BOOTSTRAP_SCRIPT],
    env: [
      { name: 'PGDATA', value: profile.dataDir },
      // The primary Service: whichever member is primary, also after a failover.
      { name: 'PRIMARY_HOST', value: serviceHost(target.namespace, names.primaryService) },
      { name: 'PRIMARY_PORT', value: String(profile.port) },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      {
        name: POD_INDEX_ENV,
        valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } },
      },
      { name: 'ROLES_DIR', value: ROLES_MOUNT_PATH },
      { name: 'FIRST_PRIMARY', value: podName(target.name, 0) },
      { name: 'REPLICATION_USER', value: REPLICATION_USER },
      // A clone attempt that dials the primary Service before kube-proxy routes it would hang
      // until the kernel gives the TCP connect up (a minute or two): five seconds, then the next
      // attempt.
      { name: 'PGCONNECT_TIMEOUT', value: String(CLONE_CONNECT_TIMEOUT_SECONDS) },
      // By reference, like the superuser's: the value never appears in the StatefulSet.
      {
        name: 'PGPASSWORD',
        valueFrom: { secretKeyRef: { name: names.secret, key: SECRET_KEYS.replicationPassword } },
      },
    ],
    resources: resourcesFor(target.spec),
    volumeMounts: [
      { name: DATA_VOLUME, mountPath: profile.dataMountPath },
      { name: ROLES_VOLUME, mountPath: ROLES_MOUNT_PATH, readOnly: true },
    ],
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
  };
}

function env(profile: EngineProfile, secretName: string): V1EnvVar[] {
  const vars: V1EnvVar[] = [
    // By reference: the password stays in the Secret and never appears in the StatefulSet.
    {
      name: profile.passwordEnv,
      valueFrom: { secretKeyRef: { name: secretName, key: SECRET_KEYS.password } },
    },
  ];
  for (const [name, value] of Object.entries(profile.env)) vars.push({ name, value });
  for (const [name, fieldPath] of Object.entries(profile.fieldEnv)) {
    vars.push({ name, valueFrom: { fieldRef: { fieldPath } } });
  }
  return vars;
}

function probe(command: string[], timing: { periodSeconds: number; failureThreshold: number }): V1Probe {
  return {
    exec: { command },
    periodSeconds: timing.periodSeconds,
    timeoutSeconds: 5,
    failureThreshold: timing.failureThreshold,
  };
}
