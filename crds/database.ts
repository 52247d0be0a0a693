import { z } from 'zod';
import { celString, withCel } from './cel';
import { parseWith } from './errors';
import { parameterRules } from './parameter-rules';
import { ALLOWED_PARAMETERS, MAX_PARAMETER_VALUE_LENGTH, PARAMETER_NAME_PATTERN } from './parameters';
import { conditions, count, dateTime, defaultedObject, objectName, quantity } from './primitives';
import type { ObjectMeta } from './meta';

/**
 * The `Database` kind: spec and status as zod schemas, the TypeScript types inferred from them.
 * The CRD (crds/generated/durable.dev_databases.yaml) is generated from these by generate.ts.
 *
 * Every field that has a default gets it here, and the CRD carries the same `default:`s, so an
 * object read back from the API server and a spec run through `parseDatabaseSpec` look the same.
 * `storage`, `backup` and `upgrade` are always present after defaulting, so consumers never
 * repeat a default.
 */

export { ENGINES, unknownEngine, type Engine } from './engines';
import { ENGINES } from './engines';

export const SIZE_TIERS = ['small', 'medium', 'large'] as const;
export type SizeTier = (typeof SIZE_TIERS)[number];

export const DELETION_POLICIES = ['Delete', 'Retain'] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

export const DATABASE_PHASES = [
  'Pending',
  'Provisioning',
  'Ready',
  'Updating',
  'Upgrading',
  'Degraded',
  'Failed',
  'Deleting',
] as const;
export type DatabasePhase = (typeof DATABASE_PHASES)[number];

export const MEMBER_ROLES = ['primary', 'replica'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

/** `15`, `15.4`, `8.0.36`, `11.4` (MariaDB). */
export const VERSION_PATTERN = /^\d+(\.\d+){0,2}$/;
export const MAX_PARAMETERS = 100;
/** Five space-separated cron fields: minute hour day-of-month month day-of-week. */
export const CRON_PATTERN = /^[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4}$/;
/** A retention age: a positive count of minutes, hours, days or weeks, e.g. `30d`, `12h`. */
export const RETENTION_AGE_PATTERN = /^[1-9][0-9]{0,5}[mhdw]$/;

const MESSAGES = {
  resourcesOrSize: 'resources and size are mutually exclusive: set one of them',
  parameterNames:
    "parameter names are written as the engine's documentation writes them: lowercase letters, digits and '_', starting with a letter or '_' (max_connections, not Max_Connections or max-connections)",
  tooManyParameters: `must have at most ${MAX_PARAMETERS} items`,
  scheduleRequired: 'backup.schedule is required when backup.enabled is true',
  oneTarget: 'backup.target must set at most one of pvc and s3',
  engineImmutable: 'engine is immutable',
  tolerationExists: 'a toleration with operator Exists must not set a value',
  tolerationKey: 'a toleration without a key must use operator Exists',
  tolerationSeconds: 'tolerationSeconds is only valid with effect NoExecute',
  synchronousNumber:
    'replication.synchronous.number must be less than replicas: the primary is not a standby of itself',
  synchronousEngine: 'replication.synchronous is available for engine postgres only',
} as const;

const cpuAndMemory = () =>
  z.object({
    cpu: quantity().optional(),
    memory: quantity().optional(),
  });

const resourcesSchema = z
  .object({ requests: cpuAndMemory().optional(), limits: cpuAndMemory().optional() })
  .describe('Container resources of the database pods. Mutually exclusive with size.');

const storageSchema = z.object({
  size: quantity().default('10Gi').describe('Size of the data volume of each member.'),
  storageClassName: z.string().max(253).optional(),
});

const parametersDescription = [
  'Engine settings (postgresql.conf / my.cnf), rendered into the ConfigMap. Only these may be set',
  '(values: see the README, Engine parameters);',
  ...ENGINES.map((engine) => `${engine}: ${Object.keys(ALLOWED_PARAMETERS[engine]).sort().join(', ')}.`),
].join(' ');

const parametersSchema = withCel(
  z
    .record(
      z.string().regex(PARAMETER_NAME_PATTERN, MESSAGES.parameterNames),
      z.string().max(MAX_PARAMETER_VALUE_LENGTH),
    )
    .refine((map) => Object.keys(map).length <= MAX_PARAMETERS, MESSAGES.tooManyParameters)
    // CEL iterates over the keys: the bound keeps the rule's estimated cost within the limits.
    .meta({ maxProperties: MAX_PARAMETERS })
    .describe(parametersDescription),
  [
    {
      rule: `self.all(k, k.matches(${celString(PARAMETER_NAME_PATTERN.source)}))`,
      message: MESSAGES.parameterNames,
      check: (map) => Object.keys(map).every((key) => PARAMETER_NAME_PATTERN.test(key)),
    },
  ],
);

const backupTargetSchema = withCel(
  z.object({
    pvc: z
      .object({
        claimName: objectName().optional().describe('PersistentVolumeClaim the backups are written to.'),
        size: quantity().optional(),
      })
      .optional(),
    s3: z
      .object({
        bucket: z.string().min(3).max(63),
        endpoint: z.string().max(512).optional(),
        prefix: z.string().max(512).optional(),
        credentialsSecret: objectName().describe('Secret in the same namespace holding the S3 credentials.'),
      })
      .optional(),
  }),
  [{ rule: '!(has(self.pvc) && has(self.s3))', message: MESSAGES.oneTarget, check: (t) => !(t.pvc && t.s3) }],
);

const backupSchema = withCel(
  z.object({
    enabled: z.boolean().default(false),
    schedule: z
      .string()
      .max(128)
      .regex(CRON_PATTERN)
      .optional()
      .describe('Cron schedule: minute hour day-of-month month day-of-week.'),
    retention: z
      .object({
        count: z.int().min(1).max(1000).optional(),
        maxAge: z.string().max(16).regex(RETENTION_AGE_PATTERN).optional(),
      })
      .optional(),
    maxAttempts: z.int().min(1).max(10).default(3),
    backoffSeconds: z.int().min(1).max(3600).default(30),
    target: backupTargetSchema.optional(),
  }),
  [
    {
      rule: '!self.enabled || has(self.schedule)',
      message: MESSAGES.scheduleRequired,
      fieldPath: '.schedule',
      reason: 'FieldValueRequired',
      check: (b) => !b.enabled || b.schedule !== undefined,
    },
  ],
);

/** Label keys and values as Kubernetes accepts them (qualified names, at most 63 characters a value). */
const LABEL_KEY_PATTERN =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE_PATTERN = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Bounds of the scheduling lists: far above any real use, low enough for CEL's cost estimates. */
export const MAX_SCHEDULING_ITEMS = 16;

const labelKey = () => z.string().min(1).max(317).regex(LABEL_KEY_PATTERN);
const labelValue = () => z.string().max(63).regex(LABEL_VALUE_PATTERN);
const labelMap = () => z.record(labelKey(), labelValue()).meta({ maxProperties: 32 });
const bounded = <T extends z.ZodType>(item: T) => z.array(item).max(MAX_SCHEDULING_ITEMS);

const nodeSelectorRequirement = z.object({
  key: labelKey(),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
  values: bounded(z.string().max(63)).optional(),
});
const nodeSelectorTerm = z.object({
  matchExpressions: bounded(nodeSelectorRequirement).optional(),
  matchFields: bounded(nodeSelectorRequirement).optional(),
});
const labelSelector = z.object({
  matchLabels: labelMap().optional(),
  matchExpressions: bounded(
    z.object({
      key: labelKey(),
      operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
      values: bounded(z.string().max(63)).optional(),
    }),
  ).optional(),
});
const podAffinityTerm = z.object({
  labelSelector: labelSelector.optional(),
  namespaceSelector: labelSelector.optional(),
  namespaces: bounded(objectName()).optional(),
  topologyKey: labelKey(),
  matchLabelKeys: bounded(labelKey()).optional(),
  mismatchLabelKeys: bounded(labelKey()).optional(),
});
const weight = () => z.int().min(1).max(100);
const podAffinity = z.object({
  requiredDuringSchedulingIgnoredDuringExecution: bounded(podAffinityTerm).optional(),
  preferredDuringSchedulingIgnoredDuringExecution: bounded(
    z.object({ weight: weight(), podAffinityTerm }),
  ).optional(),
});

/**
 * Kubernetes' Affinity, typed field by field (no unknown fields preserved): what reaches a pod
 * spec is what this schema knows. The API server checks the rest (operator/values pairing) when
 * the operator applies the StatefulSet or a Job.
 */
const affinitySchema = z
  .object({
    nodeAffinity: z
      .object({
        requiredDuringSchedulingIgnoredDuringExecution: z
          .object({ nodeSelectorTerms: bounded(nodeSelectorTerm).min(1) })
          .optional(),
        preferredDuringSchedulingIgnoredDuringExecution: bounded(
          z.object({ weight: weight(), preference: nodeSelectorTerm }),
        ).optional(),
      })
      .optional(),
    podAffinity: podAffinity.optional(),
    podAntiAffinity: podAffinity.optional(),
  })
  .describe(
    'Kubernetes Affinity of the members. Without podAntiAffinity, members prefer distinct nodes (kubernetes.io/hostname).',
  );

const tolerationSchema = withCel(
  z.object({
    key: labelKey().optional(),
    operator: z.enum(['Exists', 'Equal']).default('Equal'),
    value: labelValue().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.int().optional(),
  }),
  [
    {
      rule: "self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: MESSAGES.tolerationExists,
      check: (t) => t.operator !== 'Exists' || !t.value,
    },
    {
      rule: "has(self.key) || self.operator == 'Exists'",
      message: MESSAGES.tolerationKey,
      check: (t) => t.key !== undefined || t.operator === 'Exists',
    },
    {
      rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
      message: MESSAGES.tolerationSeconds,
      check: (t) => t.tolerationSeconds === undefined || t.effect === 'NoExecute',
    },
  ],
);

const topologySpreadSchema = z.object({
  maxSkew: z.int().min(1).max(100),
  topologyKey: labelKey(),
  whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']),
  labelSelector: labelSelector.optional().describe("Default: the Database's members."),
  minDomains: z.int().min(1).max(1000).optional(),
  nodeAffinityPolicy: z.enum(['Honor', 'Ignore']).optional(),
  nodeTaintsPolicy: z.enum(['Honor', 'Ignore']).optional(),
  matchLabelKeys: bounded(labelKey()).optional(),
});

const schedulingSchema = z
  .object({
    nodeSelector: labelMap().optional(),
    tolerations: bounded(tolerationSchema).optional(),
    affinity: affinitySchema.optional(),
    topologySpreadConstraints: bounded(topologySpreadSchema)
      .optional()
      .describe('Members only. labelSelector defaults to the members of this Database.'),
  })
  .describe(
    'Where the pods run: members get all of it; backup, restore and delete Jobs get nodeSelector, tolerations and nodeAffinity.',
  );
export type DatabaseScheduling = z.output<typeof schedulingSchema>;

export const databaseSpecSchema = withCel(
  z.object({
    engine: withCel(z.enum(ENGINES), [{ rule: 'self == oldSelf', message: MESSAGES.engineImmutable }]),
    version: z
      .string()
      .max(32)
      .regex(VERSION_PATTERN)
      .describe('Engine version, e.g. 17, 15.4, 11.8, 8.0.36.'),
    image: z
      .string()
      .max(512)
      .optional()
      .describe('Overrides the container image chosen for engine and version.'),
    replicas: z.int().min(1).max(5).default(1),
    storage: defaultedObject(storageSchema),
    resources: resourcesSchema.optional(),
    size: z.enum(SIZE_TIERS).optional().describe('Resource tier. Mutually exclusive with resources.'),
    parameters: parametersSchema.optional(),
    backup: defaultedObject(backupSchema),
    bootstrap: z
      .object({
        fromBackup: z
          .object({ name: objectName().describe('A DatabaseBackup in the same namespace.') })
          .optional(),
      })
      .optional(),
    scheduling: schedulingSchema.optional(),
    deletionPolicy: z
      .enum(DELETION_POLICIES)
      .default('Delete')
      .describe('Delete removes the data volumes with the Database; Retain keeps them.'),
    upgrade: defaultedObject(
      z.object({
        timeoutSeconds: z.int().min(60).max(86400).default(900),
        primaryUpdateMethod: z
          .enum(['restart', 'switchover'])
          .default('restart')
          .describe(
            'restart: the primary is updated in place, its writes pause while it restarts. switchover (PostgreSQL, more than one member): before the primary is updated, a planned switchover hands its role to a member already updated, so the primary is never restarted while it is the primary.',
          ),
      }),
    ),
    failover: defaultedObject(
      z
        .object({
          enabled: z
            .boolean()
            .default(true)
            .describe('Promote a replica when the primary fails (with more than one member).'),
          delaySeconds: z
            .int()
            .min(1)
            .max(3600)
            .default(5)
            .describe(
              'How long the primary must have failed (pod gone or not Ready, or its engine not answering), by consecutive checks, before a failover starts.',
            ),
          switchoverTimeoutSeconds: z
            .int()
            .min(5)
            .max(3600)
            .default(30)
            .describe(
              'How long a planned switchover (annotation durable.dev/switchover-to) may wait for its target to catch up with the primary; past it, the switchover is aborted and the primary stays.',
            ),
        })
        .describe('Automatic failover and planned switchover (PostgreSQL).'),
    ),
    replication: z
      .object({
        synchronous: z
          .object({
            number: z
              .int()
              .min(1)
              .max(4)
              .describe('How many standbys must have a commit before the primary acknowledges it.'),
            dataDurability: z
              .enum(['required', 'preferred'])
              .default('required')
              .describe(
                'required: commits wait while fewer standbys stream (no acknowledged write is lost in a failover). preferred: with fewer standbys streaming, commits wait for those there are, and for none when none streams.',
              ),
          })
          .optional()
          .describe(
            "Synchronous replication (PostgreSQL): synchronous_standby_names = 'ANY <number> (<replicas>)', kept in line with the members.",
          ),
      })
      .optional(),
  }),
  [
    {
      rule: '!(has(self.resources) && has(self.size))',
      message: MESSAGES.resourcesOrSize,
      check: (spec) => !(spec.resources !== undefined && spec.size !== undefined),
    },
    {
      rule: '!has(self.replication) || !has(self.replication.synchronous) || self.replication.synchronous.number < self.replicas',
      message: MESSAGES.synchronousNumber,
      check: (spec) =>
        spec.replication?.synchronous === undefined || spec.replication.synchronous.number < spec.replicas,
    },
    {
      rule: "!has(self.replication) || !has(self.replication.synchronous) || self.engine == 'postgres'",
      message: MESSAGES.synchronousEngine,
      check: (spec) => spec.replication?.synchronous === undefined || spec.engine === 'postgres',
    },
    // Which settings exist depends on the engine: these rules sit on the spec, not on the map.
    ...parameterRules(),
  ],
);

/** A spec as stored: every default applied. */
export type DatabaseSpec = z.output<typeof databaseSpecSchema>;
/** A spec as a user may write it. */
export type DatabaseSpecInput = z.input<typeof databaseSpecSchema>;
export type DatabaseBackupConfig = DatabaseSpec['backup'];

export const databaseStatusSchema = z.object({
  observedGeneration: count().optional(),
  phase: z.enum(DATABASE_PHASES).optional(),
  conditions: conditions().optional(),
  replicas: count().optional(),
  readyReplicas: count().optional(),
  currentVersion: z.string().max(32).optional(),
  endpoints: z
    .object({ primary: z.string().max(512).optional(), readOnly: z.string().max(512).optional() })
    .optional(),
  secretName: z.string().max(253).optional(),
  currentPrimary: z.string().max(253).optional().describe('The pod of the primary member.'),
  targetPrimary: z
    .string()
    .max(253)
    .optional()
    .describe('The member a running failover or switchover is promoting; absent otherwise.'),
  switchover: z
    .object({
      to: z.string().max(253).optional().describe('The member the switchover was asked to make primary.'),
      from: z.string().max(253).optional().describe('The primary when it started.'),
      state: z.enum(['Running', 'SwitchedOver', 'Aborted', 'Rejected']).optional(),
      reason: z.string().max(1024).optional(),
      time: z.string().max(64).optional().describe('When it reached this state (RFC 3339).'),
    })
    .optional()
    .describe('The last planned switchover.'),
  workflow: z
    .object({
      id: z.string().max(512).optional(),
      runId: z.string().max(128).optional(),
      url: z.string().max(2048).optional(),
    })
    .optional(),
  members: z
    .array(
      z.object({
        name: z.string().max(253),
        role: z.enum(MEMBER_ROLES),
        state: z.string().max(128).optional(),
      }),
    )
    .max(16)
    .optional(),
  lastBackup: z
    .object({
      name: z.string().max(253).optional(),
      phase: z.string().max(32).optional(),
      finishedAt: dateTime().optional(),
    })
    .optional(),
  upgrade: z
    .object({
      fromVersion: z.string().max(32).optional(),
      toVersion: z.string().max(32).optional(),
      state: z.string().max(64).optional(),
      reason: z.string().max(1024).optional(),
    })
    .optional(),
});
export type DatabaseStatus = z.output<typeof databaseStatusSchema>;

/** A Database object as read from the API server. */
export interface Database {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: DatabaseSpec;
  status?: DatabaseStatus;
}

/**
 * Validates a spec and applies its defaults. Messages are worded like the API server's, with
 * paths from `spec`, e.g. `spec.replicas: should be less than or equal to 5`.
 * Transition rules (engine immutability) need the old object and are not checked here.
 */
export function parseDatabaseSpec(
  obj: unknown,
): { ok: true; spec: DatabaseSpec } | { ok: false; message: string } {
  const result = parseWith(databaseSpecSchema, obj, 'spec');
  return result.ok ? { ok: true, spec: result.value } : result;
}

/** Validates a status, e.g. before the operator patches it. */
export function parseDatabaseStatus(
  obj: unknown,
): { ok: true; status: DatabaseStatus } | { ok: false; message: string } {
  const result = parseWith(databaseStatusSchema, obj, 'status');
  return result.ok ? { ok: true, status: result.value } : result;
}
