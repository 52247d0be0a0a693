import type { CoreV1Event, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { UPGRADING_FROM_ANNOTATION, type Database, type DatabaseBackup, type MemberRole } from '../crds';
import { ENGINE_PORTS, endpointsFor, objectNames, podName } from '../contracts/names';
import type { MemberLag } from './lag';

/**
 * What `kubectl durable status` shows, built from the objects it read (pure: unit-tested on
 * objects, printed as text or as `-o json|yaml`). Only what the cluster records: the Database's
 * status, its pods, its StatefulSet, its DatabaseBackups and Events; the replication lag measured
 * in the engines; the workflow's current step from Temporal when it answered.
 */
export interface StatusView {
  namespace: string;
  name: string;
  engine: string;
  /** spec.version: what is asked for. */
  version: string;
  /** status.currentVersion: what runs. */
  currentVersion?: string;
  image?: string;
  phase: string;
  /** The Ready condition's reason and message (why the phase is what it is). */
  reason?: string;
  message?: string;
  generation?: number;
  observedGeneration?: number;
  replicas: { desired: number; ready: number };
  conditions: { type: string; status: string; reason: string; message: string }[];
  members: MemberView[];
  endpoints: { primary: EndpointView; readOnly: EndpointView };
  lastBackup?: BackupSummary;
  /**
   * What a restore can go back to: the Succeeded backups (restore takes a whole backup, there is
   * no point-in-time recovery), the oldest and the newest of them.
   */
  restorable: { count: number; oldest?: BackupSummary; newest?: BackupSummary };
  operations: string[];
  workflow: { id: string; url?: string; step?: string; note?: string };
  events: EventView[];
}

export interface MemberView {
  name: string;
  role: MemberRole;
  /** The operator's word for the member (status.members[].state), else the pod's phase. */
  state: string;
  ready: boolean;
  node?: string;
  restarts: number;
  lag?: string;
}

export interface EndpointView {
  service: string;
  host: string;
  port: number;
}

export interface BackupSummary {
  name: string;
  phase: string;
  finishedAt?: string;
  sizeBytes?: number;
  location?: string;
}

export interface EventView {
  time?: string;
  type: string;
  reason: string;
  message: string;
  count: number;
}

export interface StatusInputs {
  db: Database;
  pods: Map<string, V1Pod>;
  statefulSet?: V1StatefulSet;
  backups: DatabaseBackup[];
  events: CoreV1Event[];
  lag?: Map<string, MemberLag>;
  workflowId: string;
  /** The Temporal UI page, when status carries none (built from TEMPORAL_UI_URL). */
  uiUrl?: string;
  step?: string;
  /** Why the step is missing (Temporal unreachable, no worker answered). */
  stepNote?: string;
  eventLimit?: number;
}

export function buildStatusView(i: StatusInputs): StatusView {
  const { db } = i;
  const name = db.metadata.name!;
  const namespace = db.metadata.namespace!;
  const status = db.status ?? {};
  const ready = status.conditions?.find((c) => c.type === 'Ready');
  const names = objectNames(name);
  const hosts = endpointsFor(namespace, name);
  const port = ENGINE_PORTS[db.spec.engine] ?? 0;
  return {
    namespace,
    name,
    engine: db.spec.engine,
    version: db.spec.version,
    currentVersion: status.currentVersion,
    image: db.spec.image,
    phase: status.phase ?? 'Pending',
    reason: ready?.reason,
    message: ready?.message,
    generation: db.metadata.generation,
    observedGeneration: status.observedGeneration,
    replicas: { desired: db.spec.replicas, ready: status.readyReplicas ?? 0 },
    conditions: (status.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
    })),
    members: members(i),
    endpoints: {
      primary: { service: names.primaryService, host: status.endpoints?.primary ?? hosts.primary, port },
      readOnly: { service: names.readOnlyService, host: status.endpoints?.readOnly ?? hosts.readOnly, port },
    },
    lastBackup: lastBackup(db, i.backups),
    restorable: restorable(i.backups),
    operations: operations(i),
    workflow: {
      id: status.workflow?.id ?? i.workflowId,
      url: status.workflow?.url ?? i.uiUrl,
      step: i.step,
      note: i.stepNote,
    },
    events: i.events.slice(-(i.eventLimit ?? 5)).map((e) => ({
      time: eventTimestamp(e),
      type: e.type ?? 'Normal',
      reason: e.reason ?? '',
      message: (e.message ?? '').replace(/\s+/g, ' ').trim(),
      count: e.count ?? 1,
    })),
  };
}

/**
 * The members the status lists, plus any pod the spec asks for that the status does not list yet
 * (a member being added). Pod 0 is the primary (README, Replication) when the status says nothing.
 */
function members(i: StatusInputs): MemberView[] {
  const name = i.db.metadata.name!;
  const listed = i.db.status?.members ?? [];
  const wanted = Array.from({ length: i.db.spec.replicas }, (_, n) => podName(name, n));
  const all = [...listed.map((m) => m.name), ...wanted.filter((w) => !listed.some((m) => m.name === w))];
  return all.map((member) => {
    const fromStatus = listed.find((m) => m.name === member);
    const pod = i.pods.get(member);
    const lag = i.lag?.get(member);
    return {
      name: member,
      role: fromStatus?.role ?? (member === podName(name, 0) ? 'primary' : 'replica'),
      state: fromStatus?.state ?? (pod ? (pod.status?.phase ?? 'Unknown') : 'Absent'),
      ready: pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      node: pod?.spec?.nodeName,
      restarts: (pod?.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
      lag: lag ? formatLag(lag) : undefined,
    };
  });
}

export function formatLag(lag: MemberLag): string {
  if (lag.error) return `? (${lag.error})`;
  const parts: string[] = [];
  if (lag.seconds !== undefined)
    parts.push(`${lag.seconds < 10 ? lag.seconds.toFixed(1) : Math.round(lag.seconds)}s`);
  if (lag.bytes !== undefined) parts.push(`${lag.bytes} B`);
  return parts.length ? parts.join(' / ') : '-';
}

function lastBackup(db: Database, backups: DatabaseBackup[]): BackupSummary | undefined {
  const named = db.status?.lastBackup?.name;
  const found = named ? backups.find((b) => b.metadata.name === named) : undefined;
  if (named) {
    return {
      name: named,
      phase: found?.status?.phase ?? db.status?.lastBackup?.phase ?? 'Unknown',
      finishedAt: str(found?.status?.finishedAt ?? db.status?.lastBackup?.finishedAt),
      sizeBytes: found?.status?.sizeBytes,
      location: found?.status?.location,
    };
  }
  const done = backups.find((b) => b.status?.phase === 'Succeeded' || b.status?.phase === 'Failed');
  return done ? summary(done) : undefined;
}

function summary(b: DatabaseBackup): BackupSummary {
  return {
    name: b.metadata.name!,
    phase: b.status?.phase ?? 'Pending',
    finishedAt: str(b.status?.finishedAt),
    sizeBytes: b.status?.sizeBytes,
    location: b.status?.location,
  };
}

function restorable(backups: DatabaseBackup[]): StatusView['restorable'] {
  const at = (b: DatabaseBackup) => Date.parse(String(b.status?.finishedAt ?? '')) || 0;
  const done = backups.filter((b) => b.status?.phase === 'Succeeded').sort((a, b) => at(a) - at(b));
  if (done.length === 0) return { count: 0 };
  return { count: done.length, oldest: summary(done[0]!), newest: summary(done.at(-1)!) };
}

/** What is going on now: an upgrade, a deletion, backups not finished, the workflow's step. */
function operations(i: StatusInputs): string[] {
  const ops: string[] = [];
  const status = i.db.status ?? {};
  const up = status.upgrade;
  const movingFrom = i.statefulSet?.metadata?.annotations?.[UPGRADING_FROM_ANNOTATION];
  if (up?.state === 'Upgrading' || movingFrom) {
    const from = up?.fromVersion ?? buildVersion(movingFrom) ?? '?';
    ops.push(
      `upgrade ${i.db.spec.engine} ${from} → ${up?.toVersion ?? i.db.spec.version} (${up?.state ?? 'in progress'})`,
    );
  }
  if (i.db.metadata.deletionTimestamp) ops.push(`deletion (since ${str(i.db.metadata.deletionTimestamp)})`);
  for (const b of i.backups) {
    const phase = b.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const attempt = b.status?.attempts ? `, attempt ${b.status.attempts}` : '';
    ops.push(
      `backup ${b.metadata.name} ${phase ?? 'Pending'}${attempt}${b.status?.jobName ? ` (Job ${b.status.jobName})` : ''}`,
    );
  }
  return ops;
}

function buildVersion(annotation: string | undefined): string | undefined {
  if (!annotation) return undefined;
  try {
    const v = (JSON.parse(annotation) as { version?: unknown }).version;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function eventTimestamp(e: CoreV1Event): string | undefined {
  return str(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp);
}

function str(at: unknown): string | undefined {
  if (at === undefined || at === null) return undefined;
  return at instanceof Date ? at.toISOString().replace(/\.\d{3}Z$/, 'Z') : String(at);
}
