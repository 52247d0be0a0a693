/**
 * Test implementations of the operator's activities (the interface of activities/index.ts
 * createActivities): plain in-memory functions that record every call and return what a test
 * scripts, so the real workflows run on a real Temporal server without Kubernetes or engines.
 *
 * Calls are routed by the Kubernetes namespace in their arguments: each test uses a namespace
 * of its own and scripts only that namespace, so the tests of a file can share one worker.
 */
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { DatabaseActivities, DatabaseTarget, EventRecord } from '../../activities';
import type { DatabaseStatus } from '../../crds';
import { checkSpec } from '../../crds/spec-rules';

export type ActivityName = keyof DatabaseActivities;

export interface Call {
  /** Order in which the calls started, across all tests of the worker. */
  seq: number;
  name: ActivityName;
  namespace: string;
  /** Generation of the DatabaseTarget argument, when the activity takes one. */
  generation?: number;
  args: unknown[];
  attempt: number;
  workflowId: string;
  runId: string;
  startedAt: number;
  endedAt?: number;
  /** Unset while the call runs. */
  outcome?: 'completed' | 'failed' | 'cancelled';
  /** Order in which the calls ended, on the same counter as `seq`. */
  endSeq?: number;
  error?: string;
}

export type Script = Partial<DatabaseActivities>;

/** A reportStatus call: the status the workflow wrote and the Event it recorded. */
export interface Report {
  call: Call;
  status: DatabaseStatus;
  /** The first Event of the report (most report one). */
  event?: EventRecord;
  events: EventRecord[];
}

/** Blocks like a long wait does (heartbeating), until the workflow cancels it or `until` settles. */
export async function heartbeatUntilCancelled<T>(
  until: Promise<T> = new Promise<never>(() => {}),
): Promise<T> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 100);
  try {
    return await Promise.race([until, ctx.cancelled]);
  } finally {
    clearInterval(beat);
  }
}

const version = (target: DatabaseTarget) => `rev-${target.spec.version}${target.spec.image ?? ''}`;

/** What a healthy cluster answers: every object applies, every member is ready at once. */
function healthyCluster(): DatabaseActivities {
  // Server-side apply reports "unchanged" for the same content, as the real activities do.
  const applied = new Map<string, string>();
  // The build each StatefulSet's template holds, as assessSpec reads it back.
  const builds = new Map<string, { version: string; image?: string }>();
  const built = (t: DatabaseTarget) =>
    builds.set(`${t.namespace}/${t.name}`, { version: t.spec.version, image: t.spec.image });
  const outcome = (kind: string, target: DatabaseTarget, extra = '') => {
    const key = `${target.namespace}/${target.name}/${kind}`;
    const content = JSON.stringify(target.spec) + extra;
    const before = applied.get(key);
    applied.set(key, content);
    return before === undefined ? 'created' : before === content ? 'unchanged' : 'updated';
  };
  const members = (t: DatabaseTarget) =>
    Array.from({ length: t.spec.replicas }, (_, i) => ({
      name: `${t.name}-${i}`,
      role: i === 0 ? ('primary' as const) : ('replica' as const),
      state: i === 0 ? undefined : 'streaming',
    }));
  const roles = new Map<string, { primary: number; targetPrimary?: number }>();
  const roleRecord = (t: DatabaseTarget) => {
    const key = `${t.namespace}/${t.name}`;
    if (!roles.has(key)) roles.set(key, { primary: 0 });
    return roles.get(key)!;
  };
  const replicated = async (t: DatabaseTarget) => ({
    ready: true,
    message: `${t.spec.replicas - 1} replica(s) streaming`,
    members: members(t),
    changes: [],
    removed: [],
  });
  return {
    addFinalizer: async () => undefined,
    checkPrerequisites: async () => undefined,
    applyConfigMap: async (t) => ({ outcome: outcome('ConfigMap', t), configHash: `hash-${t.generation}` }),
    ensureSecret: async (t) => ({ outcome: 'unchanged', secretName: `${t.name}-credentials` }),
    applyStatefulSet: async (t, hash) => {
      built(t);
      return { outcome: outcome('StatefulSet', t, hash) };
    },
    // The real spec rules, against what the fake StatefulSet holds when the run asks to look.
    assessSpec: async (t, opts) => {
      const running = opts.observe ? builds.get(`${t.namespace}/${t.name}`) : undefined;
      return {
        verdict: checkSpec(t.spec, running?.version ?? opts.runningVersion),
        ...(running && { running }),
      };
    },
    applyServices: async (t) => ({
      outcome: outcome('Services', t),
      endpoints: { primary: `${t.name}-primary.${t.namespace}`, readOnly: `${t.name}-ro.${t.namespace}` },
    }),
    waitForStatefulSetReady: async (t) => ({
      ready: true,
      replicas: t.spec.replicas,
      readyReplicas: t.spec.replicas,
      message: `${t.spec.replicas}/${t.spec.replicas} pods ready`,
    }),
    reportStatus: async () => true,
    releaseDatabase: async () => undefined,
    removeFinalizer: async () => undefined,
    applyRollout: async (t) => (
      built(t),
      {
        updateRevision: version(t),
        currentRevision: 'rev-initial',
        replicas: t.spec.replicas,
      }
    ),
    waitForMember: async (_t, ordinal) => ({ ready: true, message: `member ${ordinal} ready` }),
    deletePodsOfRevision: async () => [],
    clearCancelUpgrade: async () => true,
    ensureBackupSchedule: async (t) => (t.spec.backup.enabled ? 'created' : 'absent'),
    deleteBackupSchedule: async () => 'deleted',
    loadBackupPlan: async () => undefined,
    ensureBackupRecord: async (input) => ({
      namespace: input.namespace,
      name: input.backupName,
      uid: `uid-${input.backupName}`,
      databaseName: input.databaseName,
      attempts: 0,
    }),
    updateBackupStatus: async () => true,
    ensureBackupStorage: async (t) => `pvc://${t.name}-backups`,
    waitForBackupFinished: async () => ({ phase: 'Succeeded', attempts: 1 }),
    startBackupJob: async (t, backup, attempt) => ({
      jobName: `${backup.name}-${attempt}`,
      outcome: 'created',
      location: `pvc://${t.name}-backups/${backup.name}`,
    }),
    startDeleteDataJob: async (_t, backup) => ({ jobName: `${backup.name}-delete`, outcome: 'created' }),
    startRestoreJob: async (t) => ({ jobName: `${t.name}-restore`, outcome: 'created' }),
    waitForJob: async () => ({ state: 'succeeded', message: 'Job completed' }),
    recordBackupOutcome: async () => undefined,
    listExpiredBackups: async () => [],
    deleteBackupRecord: async () => undefined,
    checkRestoreSource: async (t) => ({
      backupName: t.spec.bootstrap?.fromBackup?.name ?? '',
      location: `pvc://${t.name}-backups`,
    }),
    recordRestored: async () => undefined,
    configureReplication: replicated,
    waitForReplicationReady: replicated,
    checkMemberHealth: async (_t, ordinal) => ({
      healthy: true,
      role: ordinal === 0 ? 'primary' : 'replica',
      message: 'answers',
    }),
    inspectAtRest: async () => ({ findings: [] }),
    // A role record per Database, moved by the failover steps as the real ones move the ConfigMap.
    assessPrimary: async (t) => {
      const r = roleRecord(t);
      return { ...r, healthy: true, reason: `${t.name}-${r.primary} accepts writes` };
    },
    chooseFailoverTarget: async (t, from) => {
      const ordinal = Array.from({ length: t.spec.replicas }, (_, i) => i).find((i) => i !== from)!;
      return { ordinal, candidates: [{ member: `${t.name}-${ordinal}`, ordinal, received: '100' }] };
    },
    fencePrimary: async (t, _from, to) => {
      roleRecord(t).targetPrimary = to;
      return { steps: [`recorded ${t.name}-${to} as the target`] };
    },
    reserveSlots: async () => ({ created: [] }),
    pointReplicasAt: async () => ({ repointed: [], skipped: [] }),
    recloneDivergedStandbys: async () => ({ recloned: [], left: [] }),
    promoteMember: async () => 'promoted',
    completeFailover: async (t, to) => {
      Object.assign(roleRecord(t), { primary: to, targetPrimary: undefined });
      return { relabelled: [] };
    },
    // A switchover against the same record: the target always catches up, hands over in full.
    checkSwitchover: async (t, to) => {
      const r = roleRecord(t);
      return r.primary === to ? { from: r.primary, already: true } : { from: r.primary };
    },
    waitForCatchUp: async (t, _from, to) => ({
      caughtUp: true,
      primaryAt: '100',
      lagBytes: '0',
      message: `${t.name}-${to} replayed all the primary had written`,
    }),
    waitForHandover: async (t, from, to) => ({
      received: '100',
      message: `${t.name}-${from} stopped; ${t.name}-${to} received 100 bytes of WAL`,
    }),
    clearSwitchoverRequest: async () => true,
    // Replaced in FakeActivities by the composite of its parts (see there).
    ensureObjects: async () => {
      throw new Error('ensureObjects is composed by FakeActivities');
    },
  };
}

/** What the real ensureObjects does, in order: each part is a fake of its own, scriptable. */
export const ENSURE_OBJECTS_PARTS = [
  'addFinalizer',
  'checkPrerequisites',
  'applyConfigMap',
  'ensureSecret',
  'applyStatefulSet',
  'applyServices',
] as const;

function namespaceOf(args: unknown[]): string {
  const first = args[0];
  if (typeof first === 'string') return first;
  return (first as { namespace: string }).namespace;
}

function generationOf(args: unknown[]): number | undefined {
  const first = args[0] as { generation?: unknown } | undefined;
  return typeof first?.generation === 'number' ? first.generation : undefined;
}

export class FakeActivities {
  readonly calls: Call[] = [];
  private readonly scripts = new Map<string, Script>();
  private counter = 0;
  /** The object to hand to the Worker: every activity, recorded and routed to its script. */
  readonly activities: DatabaseActivities;

  constructor() {
    const defaults = healthyCluster();
    const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const name of Object.keys(defaults) as ActivityName[]) {
      wrapped[name] = async (...args: unknown[]) => {
        const info = Context.current().info;
        const call: Call = {
          seq: ++this.counter,
          name,
          namespace: namespaceOf(args),
          generation: generationOf(args),
          args,
          attempt: info.attempt,
          workflowId: info.workflowExecution?.workflowId ?? '',
          runId: info.workflowExecution?.runId ?? '',
          startedAt: Date.now(),
        };
        this.calls.push(call);
        const impl = (this.scripts.get(call.namespace)?.[name] ?? defaults[name]) as (
          ...a: unknown[]
        ) => Promise<unknown>;
        try {
          const result = await impl(...args);
          call.outcome = 'completed';
          return result;
        } catch (err) {
          call.outcome = err instanceof CancelledFailure ? 'cancelled' : 'failed';
          call.error = err instanceof Error ? err.message : String(err);
          throw err;
        } finally {
          call.endedAt = Date.now();
          call.endSeq = ++this.counter;
        }
      };
    }
    this.activities = wrapped as unknown as DatabaseActivities;
    // ensureObjects runs its parts through the recorded fakes (as nested calls, after its own),
    // so a test scripts a part (a failing ConfigMap, a missing StorageClass) as before.
    const parts = this.activities;
    const composite: DatabaseActivities['ensureObjects'] = async (t, opts) => {
      await parts.addFinalizer(t);
      await parts.checkPrerequisites(t);
      const cm = await parts.applyConfigMap(t);
      const secret = await parts.ensureSecret(t);
      const outcomes: Awaited<ReturnType<DatabaseActivities['ensureObjects']>>['outcomes'] = [
        { kind: 'ConfigMap', name: `${t.name}-config`, outcome: cm.outcome },
        { kind: 'Secret', name: secret.secretName, outcome: secret.outcome },
      ];
      if (opts.statefulSet) {
        const sts = await parts.applyStatefulSet(t, cm.configHash);
        outcomes.push({ kind: 'StatefulSet', name: t.name, outcome: sts.outcome });
      }
      const svc = await parts.applyServices(t);
      outcomes.push({
        kind: 'Services',
        name: `${t.name}-primary, ${t.name}-ro, ${t.name}-headless`,
        outcome: svc.outcome,
      });
      return { configHash: cm.configHash, secretName: secret.secretName, endpoints: svc.endpoints, outcomes };
    };
    defaults.ensureObjects = composite;
  }

  /** Replaces activities for one namespace (the others keep answering as a healthy cluster). */
  script(namespace: string, script: Script): void {
    this.scripts.set(namespace, { ...this.scripts.get(namespace), ...script });
  }

  in(namespace: string): Call[] {
    return this.calls.filter((c) => c.namespace === namespace);
  }

  /** The status reports of `namespace`, in order. */
  reports(namespace: string): Report[] {
    return this.in(namespace)
      .filter((c) => c.name === 'reportStatus')
      .map((call) => {
        const given = call.args[2] as EventRecord | EventRecord[] | undefined;
        const events = given === undefined ? [] : Array.isArray(given) ? given : [given];
        return { call, status: call.args[1] as DatabaseStatus, event: events[0], events };
      });
  }

  /** A mark on the call counter: calls with a greater `seq` started after it. */
  mark(): number {
    return this.counter;
  }

  /** Resolves with the first call of `namespace` that matches (already made or still to come). */
  async waitFor(
    namespace: string,
    match: (c: Call) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<Call> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.in(namespace).find(match);
      if (found) return found;
      if (Date.now() > end) {
        throw new Error(
          `no ${what} in ${namespace} within ${timeoutMs} ms; calls: ${this.in(namespace)
            .map((c) => `${c.name}(g${c.generation ?? '-'}#${c.attempt})`)
            .join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The reasons of the Events the calls recorded (reportStatus), in order. */
export function eventReasons(calls: Call[]): string[] {
  return calls.flatMap((c) => {
    if (c.name !== 'reportStatus' || !c.args[2]) return [];
    const given = c.args[2] as EventRecord | EventRecord[];
    return (Array.isArray(given) ? given : [given]).map((e) => e.reason);
  });
}

/** One condition of a status, by type. */
export function conditionOf(status: DatabaseStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}
