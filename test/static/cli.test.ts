import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { COMMANDS, crdsYaml, PROGRAM, runCli, usage } from '../../cmd/cli';

/** The command line's dispatch, help and errors, and `crds`; none of it starts a process role. */
const root = path.resolve(__dirname, '..', '..');

async function cli(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('durable-db-operator CLI', () => {
  it('is the package bin and names its commands in --help', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.bin)).toEqual([PROGRAM, 'kubectl-durable']);
    expect(Object.keys(COMMANDS)).toEqual(['worker', 'watcher', 'bundle', 'crds']);
    const help = await cli('--help');
    expect(help).toEqual({ code: 0, out: usage(), err: '' });
    for (const name of Object.keys(COMMANDS)) expect(help.out).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    expect((await cli('-h')).out).toBe(usage());
  });

  it('prints usage to stderr and exits 2 without a command', async () => {
    expect(await cli()).toEqual({ code: 2, out: '', err: usage() });
  });

  it('rejects an unknown command or option clearly, with exit code 2', async () => {
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command 'frobnicate'.*worker, watcher, bundle, crds/);
    expect((await cli('--frobnicate')).err).toMatch(/unknown option '--frobnicate'/);
    const badOption = await cli('bundle', '--outfile', 'x');
    expect(badOption.code).toBe(2);
    expect(badOption.err).toMatch(/^durable-db-operator bundle: .*'--outfile'/);
    expect(badOption.err).toMatch(/Usage: durable-db-operator bundle \[--out FILE\]/);
    expect((await cli('worker', 'extra')).code).toBe(2);
    // Not an inherited property of a plain object.
    expect((await cli('toString')).code).toBe(2);
  });

  it("prints a command's usage with --help instead of running it", async () => {
    for (const name of Object.keys(COMMANDS)) {
      const help = await cli(name, '--help');
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^Usage: ${PROGRAM} ${name}\\b`));
    }
  });

  it('prints the version of package.json', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(await cli('--version')).toEqual({ code: 0, out: `${pkg.version}\n`, err: '' });
  });

  it('crds prints every generated CRD as one YAML stream for kubectl apply -f -', async () => {
    const { code, out } = await cli('crds');
    expect(code).toBe(0);
    expect(out).toBe(crdsYaml());
    const docs = YAML.parseAllDocuments(out).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string } },
    );
    const files = fs.readdirSync(path.join(root, 'crds', 'generated')).filter((f) => f.endsWith('.yaml'));
    expect(docs.map((d) => d.kind)).toEqual(files.map(() => 'CustomResourceDefinition'));
    expect(docs.map((d) => `durable.dev_${d.metadata.name.split('.')[0]}.yaml`).sort()).toEqual(files.sort());
  });
});
