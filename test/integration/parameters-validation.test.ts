import crypto from 'node:crypto';
import {
  ALLOWED_PARAMETERS,
  DATABASE,
  ENGINES,
  MAX_DATABASE_NAME_LENGTH,
  MAX_PARAMETER_VALUE_LENGTH,
  MAX_PARAMETERS,
  VERSION,
  type Engine,
} from '../../crds';
import { validDatabaseExamples } from '../../crds/examples.table';
import { invalidDatabaseExamples } from '../../crds/invalid-examples.table';
import { databaseCrd } from '../../crds/generate';
import { allSamples } from '../../crds/parameter-samples';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, type KubectlResult } from '../support/stack';

/**
 * The allow-list of spec.parameters and the name rules, as the real API server enforces them.
 *
 * The generated Database CRD is installed under a group of this test's own (same schema, same
 * rules, a different `spec.group`), so that the shared stack's `databases.durable.dev`, which
 * other test files install from their own checkouts, is left alone. What is checked: the API
 * server accepts the CRD (its CEL rules compile and their estimated cost is within the limits),
 * kubectl shows the exact messages, and for every setting of every engine the API server and the
 * TypeScript mirror (crds/parameter-rules.ts) agree on values on both sides of its bounds.
 */
const group = `params-${crypto.randomBytes(3).toString('hex')}.test.durable.dev`;
const crdName = `${DATABASE.plural}.${group}`;
const apiVersion = `${group}/${VERSION}`;

function manifest(name: string, spec: unknown, namespace: string) {
  return JSON.stringify({ apiVersion, kind: DATABASE.kind, metadata: { name, namespace }, spec });
}

describe('spec.parameters and names, checked by the real API server', () => {
  let ns: string;

  /** kubectl create (or a server-side dry run), retried while discovery has not seen the new group yet. */
  async function create(name: string, spec: unknown, dryRun = false): Promise<KubectlResult> {
    const args = ['create', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'];
    for (let attempt = 0; ; attempt++) {
      const res = await kubectl(args, manifest(name, spec, ns));
      if (
        attempt < 10 &&
        /no matches for kind|the server could not find the requested resource/.test(res.stderr)
      ) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      return res;
    }
  }

  beforeAll(async () => {
    const crd = databaseCrd() as { metadata: { name: string }; spec: { group: string } };
    crd.metadata.name = crdName;
    crd.spec.group = group;
    await kubectlOk(['apply', '--server-side', '-f', '-'], JSON.stringify(crd));
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crdName}`]);
    ns = await createNamespace('params');
  });
  afterAll(async () => {
    await deleteNamespace(ns);
    await kubectl(['delete', 'crd', crdName, '--wait=false', '--ignore-not-found']);
  });

  it('refuses a setting that runs a program, naming it', async () => {
    const res = await create('pg-archive', {
      engine: 'postgres',
      version: '17',
      parameters: { archive_command: 'sh -c id', work_mem: '8MB' },
    });
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toBe(
      'The Database "pg-archive" is invalid: spec.parameters: Forbidden: archive_command is not a setting users may set for postgres; allowed: kubectl explain databases.spec.parameters, or the README (Engine parameters)',
    );
  });

  it('refuses loose_ overrides of what the operator owns', async () => {
    const res = await create('maria-loose', {
      engine: 'mariadb',
      version: '11.8',
      parameters: { loose_skip_grant_tables: '', loose_bind_address: '127.0.0.1', max_connections: '50' },
    });
    expect(res.code).not.toBe(0);
    // The API server names the first key its iteration meets, and counts the others.
    expect(res.stderr.trim()).toMatch(
      /^The Database "maria-loose" is invalid: spec.parameters: Forbidden: (loose_bind_address|loose_skip_grant_tables) and 1 other key are not settings users may set for mariadb; allowed: kubectl explain databases.spec.parameters, or the README \(Engine parameters\)$/,
    );
  });

  it('refuses a value out of range, on the setting', async () => {
    const res = await create('pg-range', {
      engine: 'postgres',
      version: '17',
      parameters: { max_connections: '5' },
    });
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toBe(
      'The Database "pg-range" is invalid: spec.parameters[max_connections]: Invalid value: "object": max_connections must be an integer from 10 to 10000',
    );
  });

  it('accepts allowed settings and stores them as given', async () => {
    const parameters = { work_mem: '8MB', shared_buffers: '1GB', statement_timeout: '30s', jit: 'off' };
    const res = await create('pg-allowed', { engine: 'postgres', version: '17', parameters });
    expect([res.code, res.stderr]).toEqual([0, '']);
    const stored = await kubectlOk([
      'get',
      crdName,
      'pg-allowed',
      '-n',
      ns,
      '-o',
      'jsonpath={.spec.parameters}',
    ]);
    expect(JSON.parse(stored)).toEqual(parameters);
  });

  it('refuses a name longer than the longest the derived names allow, and accepts the longest', async () => {
    const longest = `n${'x'.repeat(MAX_DATABASE_NAME_LENGTH - 1)}`;
    const res = await create(`${longest}y`, { engine: 'postgres', version: '17' });
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim()).toBe(
      `The Database "${longest}y" is invalid: metadata.name: Invalid value: "object": a Database name may be at most 52 characters long: the operator derives longer names from it (the StatefulSet's controller-revision-hash label <name>-<hash> must fit in 63)`,
    );
    const ok = await create(longest, { engine: 'postgres', version: '17' }, true);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    const digit = await create('1orders', { engine: 'postgres', version: '17' });
    expect(digit.stderr).toContain(
      'metadata.name: Invalid value: "object": a Database name must start with a lowercase letter',
    );
  });

  it.each(invalidDatabaseExamples.filter((e) => !e.from).map((e) => [e.name, e] as const))(
    'rejects example %s with the field and message the zod mirror gives',
    async (_n, example) => {
      const res = await create(`x-${example.name}`, example.spec);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain(example.field);
      expect(res.stderr).toContain(example.expect);
    },
  );

  it('accepts every valid example (server-side dry run)', async () => {
    for (const example of validDatabaseExamples.filter((e) => !e.from)) {
      const res = await create(`v-${example.name}`, example.spec, true);
      expect({ name: example.name, stderr: res.stderr, code: res.code }).toEqual({
        name: example.name,
        stderr: '',
        code: 0,
      });
    }
  });

  /** At most MAX_PARAMETERS settings per object. */
  function chunks<T>(items: T[]): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += MAX_PARAMETERS) out.push(items.slice(i, i + MAX_PARAMETERS));
    return out;
  }
  const versionOf = (engine: Engine) =>
    engine === 'postgres' ? '17' : engine === 'mariadb' ? '11.8' : '8.4';
  const dryRun = (name: string, engine: Engine, parameters: (readonly [string, string])[]) =>
    create(name, { engine, version: versionOf(engine), parameters: Object.fromEntries(parameters) }, true);

  it.each(ENGINES)(
    'agrees with the TypeScript rules on every %s setting, both sides of its bounds',
    async (engine) => {
      const samples = allSamples(engine);
      expect(samples.length).toBe(Object.keys(ALLOWED_PARAMETERS[engine]).length);
      const rounds = Math.max(...samples.map((s) => Math.max(s.valid.length, s.invalid.length)));
      let objects = 0;
      for (let round = 0; round < rounds; round++) {
        // Valid: one object per chunk, each setting with its round-th valid value.
        const valid = samples
          .filter((s) => s.valid[round] !== undefined)
          .map((s) => [s.name, s.valid[round]!] as const);
        for (const chunk of chunks(valid)) {
          const res = await dryRun(`ok-${engine}-${round}-${objects++}`, engine, chunk);
          expect({ round, stderr: res.stderr, code: res.code }).toEqual({ round, stderr: '', code: 0 });
        }
        // Invalid: every setting of the chunk must be reported, on its own field. A value longer
        // than the schema's maxLength goes in an object of its own: the API server skips the CEL
        // rules of an object the schema already refused.
        const invalid = samples
          .filter((s) => s.invalid[round] !== undefined)
          .map((s) => [s.name, s.invalid[round]!] as const);
        const fits = invalid.filter(([, value]) => value.length <= MAX_PARAMETER_VALUE_LENGTH);
        const tooLong = invalid.filter(([, value]) => value.length > MAX_PARAMETER_VALUE_LENGTH);
        for (const chunk of [...chunks(fits), ...tooLong.map((entry) => [entry])]) {
          const res = await dryRun(`bad-${engine}-${round}-${objects++}`, engine, chunk);
          expect(res.code).not.toBe(0);
          // CEL rules report `spec.parameters[name]`, the schema's maxLength `spec.parameters.name`.
          const unreported = chunk.filter(
            ([name]) =>
              !res.stderr.includes(`spec.parameters[${name}]:`) &&
              !res.stderr.includes(`spec.parameters.${name}:`),
          );
          expect({ round, unreported }).toEqual({ round, unreported: [] });
        }
      }
    },
  );
});
