import { databaseManifest } from '../../crds/example-manifests';
import { validDatabaseExamples } from '../../crds/examples.table';
import { invalidDatabaseExamples } from '../../crds/invalid-examples.table';
import {
  applyDatabase,
  installCrds,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { createNamespace, deleteNamespace, kubectl, kubectlOk } from '../support/stack';

/**
 * Bad input gets a clear error and loses nothing: the API server's schema rejects malformed
 * Databases with a readable message (the same table the zod unit tests use, so the CRD and the
 * TypeScript schema cannot drift apart), and a Database that passes the schema but cannot be
 * satisfied gets a condition and an Event while the worker keeps working.
 */
describe('Database validation by the real API server', () => {
  let ns: string;
  beforeAll(async () => {
    await installCrds();
    ns = await createNamespace('schema');
  });
  afterAll(async () => deleteNamespace(ns));

  it('has a table of at least 15 malformed Databases', () => {
    expect(invalidDatabaseExamples.length).toBeGreaterThanOrEqual(15);
  });

  it.each(invalidDatabaseExamples.map((e) => [e.name, e] as const))('rejects %s', async (_name, example) => {
    if (example.from) {
      await kubectlOk(
        ['create', '-f', '-'],
        JSON.stringify(databaseManifest(example.name, example.from, ns)),
      );
    }
    const res = await kubectl(
      [example.from ? 'replace' : 'create', '-f', '-'],
      JSON.stringify(databaseManifest(example.name, example.spec, ns)),
    );
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(example.field);
    expect(res.stderr).toContain(example.expect);
  });

  it('accepts every valid example (server-side dry run)', async () => {
    for (const example of validDatabaseExamples.filter((e) => !e.from)) {
      const res = await kubectl(
        ['create', '--dry-run=server', '-f', '-'],
        JSON.stringify(databaseManifest(example.name, example.spec, ns)),
      );
      expect({ name: example.name, stderr: res.stderr, code: res.code }).toEqual({
        name: example.name,
        stderr: '',
        code: 0,
      });
    }
  });
});

describe('Databases that pass the schema but cannot be satisfied', () => {
  let ns: string;
  let op: RunningOperator;
  beforeAll(async () => {
    ns = await createNamespace('unsat');
    op = await startOperator(ns);
  });
  afterAll(async () => {
    await op.stop();
    await deleteNamespace(ns);
  });

  const cases = [
    {
      name: 'old-postgres',
      spec: { engine: 'postgres', version: '9.6' },
      reason: 'UnsupportedVersion',
      message: 'postgres 9.6 is not supported',
    },
    {
      name: 'no-such-class',
      spec: { engine: 'mariadb', version: '11.8', storage: { size: '5Gi', storageClassName: 'gold-nvme' } },
      reason: 'Unsatisfiable',
      message: 'StorageClass "gold-nvme" does not exist',
    },
  ] as const;

  it.each(cases.map((c) => [c.name, c] as const))(
    '%s gets Ready=False with the reason, an Event, and recovers when the spec is fixed',
    async (_n, c) => {
      await applyDatabase(ns, c.name, c.spec);
      const failed = await waitForPhase(ns, c.name, 'Failed');
      const ready = failed.status?.conditions?.find((x) => x.type === 'Ready');
      expect(ready).toMatchObject({ status: 'False', reason: c.reason, observedGeneration: 1 });
      expect(ready?.message).toContain(c.message);
      const events = await kubectlOk([
        'get',
        'events',
        '-n',
        ns,
        '--field-selector',
        `involvedObject.name=${c.name},reason=${c.reason}`,
        '-o',
        'jsonpath={range .items[*]}{.type} {.message}{"\\n"}{end}',
      ]);
      expect(events).toContain(`Warning ${c.message}`);

      // Nothing is lost: fixing the spec converges, on the same workflow.
      const fixed =
        c.name === 'old-postgres' ? { ...c.spec, version: '15' } : { engine: 'mariadb', version: '11.8' };
      await applyDatabase(ns, c.name, fixed as never);
      const db = await waitForPhase(ns, c.name, 'Ready', { generation: 2 });
      expect(db.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
    },
  );
});
