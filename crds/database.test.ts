import { z } from 'zod';
import { parseDatabaseBackupSpec } from './backup';
import { databaseSpecSchema, parseDatabaseSpec, parseDatabaseStatus } from './database';
import { invalidDatabaseBackupExamples, validDatabaseBackupExamples } from './backup-examples.table';
import { validDatabaseExamples } from './examples.table';
import { invalidDatabaseExamples } from './invalid-examples.table';
import { databaseBackupCrd, databaseCrd, staleFiles } from './generate';
import { crdName, DATABASE, DATABASE_BACKUP, GROUP, VERSION } from './names';
import { structuralProblems, toStructural, type JsonSchema } from './structural';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Parse = (spec: unknown) => { ok: true } | { ok: false; message: string };

describe.each([
  ['Database', parseDatabaseSpec as Parse, validDatabaseExamples, invalidDatabaseExamples, 15, 20],
  [
    'DatabaseBackup',
    parseDatabaseBackupSpec as Parse,
    validDatabaseBackupExamples,
    invalidDatabaseBackupExamples,
    3,
    4,
  ],
] as const)('%s examples', (_kind, parse, valid, invalid, minValid, minInvalid) => {
  it('has enough examples, with unique names usable as metadata.name', () => {
    expect(valid.length).toBeGreaterThanOrEqual(minValid);
    expect(invalid.length).toBeGreaterThanOrEqual(minInvalid);
    const names = [...valid, ...invalid].map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    // Leaves room for prefixes such as "valid-" in the integration test.
    for (const name of names) expect(name).toMatch(DNS_LABEL);
    for (const name of names) expect(name.length).toBeLessThanOrEqual(40);
  });

  it.each(valid.map((e) => [e.name, e] as const))('accepts %s', (_name, example) => {
    expect(parse(example.spec)).toEqual(expect.objectContaining({ ok: true }));
    if (example.from) expect(parse(example.from)).toEqual(expect.objectContaining({ ok: true }));
  });

  it.each(invalid.map((e) => [e.name, e] as const))('rejects %s like the API server', (_name, example) => {
    const result = parse(example.spec);
    if (example.from !== undefined) {
      // A transition rule: only the API server sees the old object; both are fine on their own.
      expect(result.ok).toBe(true);
      expect(parse(example.from).ok).toBe(true);
      return;
    }
    expect(result.ok).toBe(false);
    if (result.ok) return;
    // Same field, same wording as the API server.
    expect(result.message).toContain(`${example.field}: `);
    expect(result.message).toContain(example.expect);
  });
});

describe('parseDatabaseSpec', () => {
  it('applies every default', () => {
    expect(parseDatabaseSpec({ engine: 'postgres', version: '15' })).toEqual({
      ok: true,
      spec: {
        engine: 'postgres',
        version: '15',
        replicas: 1,
        storage: { size: '10Gi' },
        backup: { enabled: false, maxAttempts: 3, backoffSeconds: 30 },
        deletionPolicy: 'Delete',
        upgrade: { timeoutSeconds: 900, primaryUpdateMethod: 'restart' },
        failover: { enabled: true, delaySeconds: 5, switchoverTimeoutSeconds: 30 },
      },
    });
  });

  it('keeps given values over defaults, and fills defaults inside given objects', () => {
    const result = parseDatabaseSpec({
      engine: 'mysql',
      version: '8.0',
      storage: { storageClassName: 'fast' },
      backup: { enabled: true, schedule: '0 3 * * *', maxAttempts: 5 },
    });
    expect(result).toMatchObject({
      ok: true,
      spec: {
        storage: { size: '10Gi', storageClassName: 'fast' },
        backup: { enabled: true, schedule: '0 3 * * *', maxAttempts: 5, backoffSeconds: 30 },
      },
    });
  });

  it('drops unknown fields, as the API server prunes them', () => {
    const result = parseDatabaseSpec({ engine: 'postgres', version: '15', colour: 'blue' });
    expect(result.ok && 'colour' in result.spec).toBe(false);
  });

  it('reports every problem in one readable message', () => {
    expect(parseDatabaseSpec({ engine: 'postgres', version: 'x', replicas: 9 })).toEqual({
      ok: false,
      message:
        "spec.version: should match '^\\d+(\\.\\d+){0,2}$'; spec.replicas: should be less than or equal to 5",
    });
    expect(parseDatabaseSpec('nope')).toEqual({
      ok: false,
      message: 'spec: must be of type object: "string"',
    });
  });

  it('does not share default objects between results', () => {
    const a = parseDatabaseSpec({ engine: 'postgres', version: '15' });
    const b = parseDatabaseSpec({ engine: 'postgres', version: '15' });
    if (!a.ok || !b.ok) throw new Error('expected valid specs');
    a.spec.storage.size = '1Gi';
    expect(b.spec.storage.size).toBe('10Gi');
  });
});

describe('parseDatabaseStatus', () => {
  it('accepts a typical status and rejects an unknown phase', () => {
    const status = {
      observedGeneration: 2,
      phase: 'Ready',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'AllMembersReady',
          message: '',
          lastTransitionTime: '2024-01-01T00:00:00Z',
          observedGeneration: 2,
        },
      ],
      members: [{ name: 'orders-db-0', role: 'primary', state: 'streaming' }],
    };
    expect(parseDatabaseStatus(status).ok).toBe(true);
    expect(parseDatabaseStatus({ phase: 'Weird' })).toMatchObject({
      ok: false,
      message: /status.phase: Unsupported/,
    });
  });
});

describe.each([
  ['Database', databaseCrd, DATABASE],
  ['DatabaseBackup', databaseBackupCrd, DATABASE_BACKUP],
] as const)('%s CRD', (_kind, build, names) => {
  const crd = build();
  const version = get(crd, 'spec', 'versions', 0);
  const schema = get(version, 'schema', 'openAPIV3Schema') as JsonSchema;

  it('is named and versioned from names.ts', () => {
    expect(get(crd, 'metadata', 'name')).toBe(crdName(names));
    expect(get(crd, 'spec', 'group')).toBe(GROUP);
    expect(get(crd, 'spec', 'scope')).toBe('Namespaced');
    expect(get(crd, 'spec', 'names', 'shortNames')).toEqual(names.shortNames);
    expect(get(version, 'name')).toBe(VERSION);
    expect(get(version, 'subresources')).toEqual({ status: {} });
  });

  it('has a structural schema', () => {
    expect(structuralProblems(schema)).toEqual([]);
    // Only metadata.name may have a schema, and only so that the name rules can point at it.
    expect(get(schema, 'properties', 'metadata')).toEqual(
      _kind === 'Database'
        ? { type: 'object', properties: { name: { type: 'string' } } }
        : { type: 'object' },
    );
    const text = JSON.stringify(schema);
    for (const forbidden of ['$schema', '$ref', 'propertyNames', 'allOf', 'anyOf', 'oneOf', 'nullable']) {
      expect(text).not.toContain(`"${forbidden}"`);
    }
    expect(text).not.toContain('"additionalProperties":false');
  });

  it('bounds every list and map a CEL rule iterates over', () => {
    walk(schema, (node, path) => {
      const rules = (node['x-kubernetes-validations'] as { rule: string }[] | undefined) ?? [];
      for (const { rule } of rules) {
        // `self.a.b.all(`: the node reached from this one by a, b is what the rule iterates.
        for (const [, fields] of rule.matchAll(
          /\bself((?:\.[A-Za-z_]\w*)*)\.(?:all|exists|exists_one|map|filter)\(/g,
        )) {
          const iterated = (fields ?? '')
            .split('.')
            .filter(Boolean)
            .reduce<unknown>((n, f) => get(n, 'properties', f), node) as JsonSchema;
          expect([path + fields, iterated.maxItems ?? iterated.maxProperties]).toEqual([
            path + fields,
            expect.any(Number),
          ]);
        }
      }
    });
  });

  it('has printer columns that point at schema fields', () => {
    const columns = get(version, 'additionalPrinterColumns') as { jsonPath: string }[];
    for (const { jsonPath } of columns) {
      if (jsonPath.startsWith('.metadata.')) continue;
      const segments = jsonPath.slice(1).split('.');
      const node = segments.reduce<unknown>((n, s) => get(n, 'properties', s), schema);
      expect([jsonPath, typeof node]).toEqual([jsonPath, 'object']);
    }
  });
});

describe('Database CRD specifics', () => {
  const spec = get(databaseCrd(), 'spec', 'versions', 0, 'schema', 'openAPIV3Schema', 'properties', 'spec');

  it('carries the defaults and CEL rules of the zod schema', () => {
    expect(get(spec, 'properties', 'replicas', 'default')).toBe(1);
    expect(get(spec, 'properties', 'storage', 'default')).toEqual({ size: '10Gi' });
    expect(get(spec, 'properties', 'deletionPolicy', 'default')).toBe('Delete');
    expect(get(spec, 'properties', 'engine', 'x-kubernetes-validations')).toEqual([
      { rule: 'self == oldSelf', message: 'engine is immutable' },
    ]);
    expect(get(spec, 'properties', 'parameters', 'additionalProperties')).toEqual({
      type: 'string',
      maxLength: 256,
    });
    expect(get(spec, 'x-kubernetes-validations', 0, 'rule')).toBe('!(has(self.resources) && has(self.size))');
  });

  it('marks status.conditions as a list-map keyed by type', () => {
    const status = get(
      databaseCrd(),
      'spec',
      'versions',
      0,
      'schema',
      'openAPIV3Schema',
      'properties',
      'status',
    );
    const conditions = get(status, 'properties', 'conditions');
    expect(get(conditions, 'x-kubernetes-list-type')).toBe('map');
    expect(get(conditions, 'x-kubernetes-list-map-keys')).toEqual(['type']);
  });
});

describe('generated files', () => {
  it('are up to date (regenerate with: npx tsx crds/generate.ts)', () => {
    expect(staleFiles()).toEqual([]);
  });
});

describe('toStructural', () => {
  it('drops what the API server forbids and keeps maps as additionalProperties schemas', () => {
    const json = z.toJSONSchema(
      z.object({ m: z.record(z.string().regex(/^a/), z.string()), n: z.int(), t: z.iso.datetime() }),
      { target: 'openapi-3.0', io: 'output' },
    ) as JsonSchema;
    expect(toStructural(json)).toEqual({
      type: 'object',
      properties: {
        m: { type: 'object', additionalProperties: { type: 'string' } },
        n: { type: 'integer' },
        t: { type: 'string', format: 'date-time' },
      },
      required: ['m', 'n', 't'],
    });
  });

  it('refuses what it cannot translate', () => {
    const union = z.toJSONSchema(z.object({ u: z.union([z.string(), z.int()]) }), { target: 'openapi-3.0' });
    expect(() => toStructural(union as JsonSchema)).toThrow(/anyOf is not allowed/);
    const twoPatterns = z.toJSONSchema(z.string().regex(/^a/).regex(/b$/), { target: 'openapi-3.0' });
    expect(() => toStructural(twoPatterns as JsonSchema)).toThrow(/allOf is not allowed/);
    expect(structuralProblems({ properties: { a: { type: 'string' } } })).toEqual([
      '$: every node needs a type, got undefined',
    ]);
  });

  it('checks list-map keys are required', () => {
    const list = { type: 'array', items: { type: 'object', properties: { type: { type: 'string' } } } };
    expect(
      structuralProblems({
        ...list,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ).toEqual(['$: list-map key type must be required or have a default']);
  });
});

describe('the zod schema itself', () => {
  it('infers the documented input type', () => {
    // Compile-time check: every defaulted field is optional on input.
    const input: z.input<typeof databaseSpecSchema> = { engine: 'mysql', version: '8.0' };
    expect(databaseSpecSchema.safeParse(input).success).toBe(true);
  });
});

/** Follows object keys and array indexes; undefined when the path does not exist. */
function get(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

function walk(node: unknown, visit: (node: JsonSchema, path: string) => void, path = '$'): void {
  if (typeof node !== 'object' || node === null) return;
  const schema = node as JsonSchema;
  visit(schema, path);
  for (const [name, child] of Object.entries((schema.properties as JsonSchema | undefined) ?? {})) {
    walk(child, visit, `${path}.${name}`);
  }
  walk(schema.items, visit, `${path}[]`);
  walk(schema.additionalProperties, visit, `${path}{}`);
}
