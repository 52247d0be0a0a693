import fs from 'node:fs';
import path from 'node:path';
import {
  DockerfileParser,
  From,
  JSONInstruction,
  ModifiableInstruction,
  PropertyInstruction,
  type Instruction,
} from 'dockerfile-ast';
import ts from 'typescript';
import { COMMANDS, PROGRAM } from '../../cmd/cli';
import { NODE_FLAGS } from '../../cmd/node-flags';
import { CONFIG_KEYS, loadConfig } from '../../common/config';

/**
 * Static checks of the Dockerfile (there is no Docker engine on the development machines): its
 * structure and hygiene, and that what it runs and copies exists — the CLI's `bundle` command, the
 * compiled entry point where tsconfig.build.json puts it, every file the runtime stage takes from
 * an earlier stage.
 */
const root = path.resolve(__dirname, '..', '..');
const dockerfile = DockerfileParser.parse(fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

interface Stage {
  name: string;
  from: From;
  instructions: Instruction[];
}

/** The build stages, each with the instructions after its FROM. */
const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction instanceof From) {
    stages.push({
      name: instruction.getBuildStage() ?? String(stages.length),
      from: instruction,
      instructions: [],
    });
  } else {
    stages.at(-1)?.instructions.push(instruction);
  }
}
const runtime = stages.at(-1)!;
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const all = (keyword: string) => dockerfile.getInstructions().filter((i) => i.getKeyword() === keyword);
const flag = (i: Instruction, name: string): string | undefined => {
  const found =
    i instanceof ModifiableInstruction ? i.getFlags().find((f) => f.getName() === name) : undefined;
  return found ? (found.getValue() ?? '') : undefined;
};
const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const text = (i: Instruction) => i.getArgumentsContent() ?? '';
const unquote = (v: string | null) => (v ?? '').replace(/^"(.*)"$/s, '$1');
const properties = (i: Instruction) =>
  i instanceof PropertyInstruction ? i.getProperties().map((p) => [p.getName(), unquote(p.getValue())]) : [];
const execForm = (i: Instruction): string[] => {
  const parsed: unknown = JSON.parse(text(i));
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) throw new Error(`${text(i)}`);
  return parsed as string[];
};

/** Where tsc -p tsconfig.build.json puts a source file; and the files that build compiles. */
const build = (() => {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.build.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  })!;
  const { outDir, rootDir } = parsed.options;
  if (!outDir || !rootDir) throw new Error('tsconfig.build.json needs outDir and rootDir');
  // Every project file the compiled program contains: included ones and whatever they import.
  const program = ts.createProgram(parsed.fileNames, { ...parsed.options, noEmit: true });
  const compiled = program
    .getSourceFiles()
    .map((f) => path.relative(root, f.fileName))
    .filter((f) => !f.startsWith('..') && !f.split(path.sep).includes('node_modules'));
  const outputOf = (source: string) =>
    path
      .relative(root, path.join(outDir, path.relative(rootDir, path.join(root, source))))
      .replace(/\.ts$/, '.js');
  return {
    outDir: path.relative(root, outDir),
    included: parsed.fileNames.map((f) => path.relative(root, f)),
    compiled,
    outputOf,
  };
})();

/** .dockerignore as Docker reads it: a path is excluded when it or one of its parents matches. */
const ignored = (() => {
  const patterns = fs
    .readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const toRegExp = (p: string) =>
    new RegExp(
      `^${p
        .replace(/^\/+|\/+$/g, '')
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?')}$`,
    );
  const rules = patterns.map((p) => ({ negate: p.startsWith('!'), re: toRegExp(p.replace(/^!/, '')) }));
  return (file: string) => {
    const parts = path.posix.normalize(file).split('/');
    let excluded = false;
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      for (const rule of rules) if (rule.re.test(prefix)) excluded = !rule.negate;
    }
    return excluded;
  };
})();

/**
 * A walk through the stages that records which paths each one has made: files COPY'd from the build
 * context (with the repository path they came from) and the outputs of the RUN steps it knows.
 */
interface Produced {
  /** Absolute path in the image → repository path (COPY from the context) or the step that made it. */
  paths: Map<string, { repo?: string; by: string }>;
  cwd: string;
}
function has(produced: Produced, file: string): boolean {
  for (const [p, origin] of produced.paths) {
    if (file === p || file.startsWith(`${p}/`)) {
      if (origin.repo === undefined) return true;
      return fs.existsSync(path.join(root, origin.repo, path.relative(p, file)));
    }
  }
  return false;
}
const walk = new Map<string, Produced>();
const problems: string[] = [];
for (const stage of stages) {
  const base = walk.get(stage.from.getImage() ?? '');
  const produced: Produced = base
    ? { paths: new Map(base.paths), cwd: base.cwd }
    : { paths: new Map(), cwd: '/' };
  const at = (p: string) => path.posix.resolve(produced.cwd, p);
  for (const i of stage.instructions) {
    const keyword = i.getKeyword();
    if (keyword === 'WORKDIR') produced.cwd = at(args(i)[0]!);
    if (keyword === 'COPY' || keyword === 'ADD') {
      const parts = args(i);
      const dest = parts.at(-1)!;
      const sources = parts.slice(0, -1);
      const from = flag(i, 'from');
      for (const source of sources) {
        const target =
          dest.endsWith('/') || sources.length > 1
            ? at(path.posix.join(dest, path.posix.basename(source)))
            : at(dest);
        if (from !== undefined) {
          const earlier = walk.get(from);
          if (!earlier || !has(earlier, path.posix.resolve(earlier.cwd, source))) {
            problems.push(`stage ${stage.name}: COPY --from=${from} ${source}: not made by stage ${from}`);
          }
          produced.paths.set(target, { by: `COPY --from=${from}` });
        } else {
          if (!fs.existsSync(path.join(root, source)))
            problems.push(`stage ${stage.name}: COPY ${source}: no such file`);
          if (ignored(source))
            problems.push(`stage ${stage.name}: COPY ${source}: excluded by .dockerignore`);
          produced.paths.set(target, { repo: source, by: 'COPY' });
        }
      }
    }
    if (keyword === 'RUN') {
      const run = text(i);
      if (/\bnpm (install|ci)\b/.test(run)) produced.paths.set(at('node_modules'), { by: 'npm install' });
      if (/\bnpm run build\b/.test(run)) {
        const needed = ['package.json', 'node_modules', 'tsconfig.json', 'tsconfig.build.json'];
        const dirs = [...new Set(build.compiled.map((f) => f.split(path.sep)[0]!))];
        for (const need of [...needed, ...dirs]) {
          if (!has(produced, at(need)))
            problems.push(`stage ${stage.name}: npm run build before ${need} is there`);
        }
        produced.paths.set(at(build.outDir), { by: 'npm run build' });
      }
      const bundle = /\bnode (\S+) bundle --out (\S+)/.exec(run);
      if (bundle) {
        if (!has(produced, at(bundle[1]!)))
          problems.push(`stage ${stage.name}: ${bundle[1]} is not built yet`);
        produced.paths.set(at(bundle[2]!), { by: 'bundle' });
      }
    }
  }
  walk.set(stage.name, produced);
}

describe('Dockerfile', () => {
  it('is multi-stage with named stages (deps → build → runtime)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    for (const stage of stages) expect(stage.from.getBuildStage()).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(new Set(stages.map((s) => s.name)).size).toBe(stages.length);
    expect(stages.map((s) => s.name)).toEqual(['deps', 'build', 'runtime']);
  });

  it('builds on a slim Node 20 base in the final stage, with pinned tags and never latest', () => {
    const final = runtime.from;
    expect(final.getImageName()).toMatch(/^(docker\.io\/)?(library\/)?node$/);
    expect(final.getImageTag()).toMatch(/^20(\.\d+){0,2}-(bookworm|bullseye|trixie)-slim$/);
    for (const from of dockerfile.getFROMs()) {
      const image = from.getImage() ?? '';
      if (stages.some((s) => s.name === image)) continue; // an earlier stage
      expect(from.getImageTag() ?? from.getImageDigest()).toBeTruthy();
      expect(from.getImageTag()).not.toBe('latest');
    }
    expect(all('COPY').map((i) => flag(i, 'from') ?? '')).not.toContainEqual(
      expect.stringMatching(/:latest$/),
    );
  });

  it('runs the final stage as a numeric non-root user', () => {
    const users = of(runtime, 'USER').map((i) => args(i)[0]!);
    expect(users.length).toBeGreaterThan(0);
    const [uid, gid] = users.at(-1)!.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(gid).toMatch(/^\d+$/);
  });

  it('has ENTRYPOINT and CMD in exec (JSON) form: node <NODE_FLAGS> <the compiled CLI> worker', () => {
    const entrypoints = all('ENTRYPOINT');
    const cmds = all('CMD');
    expect(entrypoints).toHaveLength(1);
    expect(cmds).toHaveLength(1);
    for (const i of [...entrypoints, ...cmds]) {
      expect(i).toBeInstanceOf(JSONInstruction);
      expect(() => execForm(i)).not.toThrow();
    }
    const [node, ...rest] = execForm(entrypoints[0]!);
    const cli = rest.at(-1);
    expect(node).toBe('node');
    // The node flags are those the benchmark measures the footprint with.
    expect(rest.slice(0, -1)).toEqual([...NODE_FLAGS]);
    expect(execForm(cmds[0]!)).toEqual(['worker']);
    expect(Object.keys(COMMANDS)).toContain('worker');
    // The entry point is where tsc puts cmd/cli.ts, and package.json's bin of that name is the same
    // file (the other bin is the kubectl plugin, for users' machines).
    const workdir = walk.get(runtime.name)!.cwd;
    expect(path.posix.resolve(workdir, cli!)).toBe(path.posix.resolve(workdir, build.outputOf('cmd/cli.ts')));
    expect(pkg.bin[PROGRAM]).toEqual(build.outputOf('cmd/cli.ts'));
    expect(pkg.bin['kubectl-durable']).toEqual(build.outputOf('cmd/kubectl-durable.ts'));
  });

  it('does not ADD from URLs and declares no secrets in ENV or ARG', () => {
    for (const add of all('ADD')) {
      for (const source of args(add).slice(0, -1)) expect(source).not.toMatch(/^(https?:|git@|ssh:)/);
    }
    const names = [...all('ENV'), ...all('ARG')].flatMap((i) => properties(i).map(([name]) => name!));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name).not.toMatch(/PASSWORD|TOKEN|KEY|SECRET/i);
  });

  it('takes COPY --from only from earlier stages, and only files those stages made', () => {
    stages.forEach((stage, index) => {
      for (const copy of of(stage, 'COPY')) {
        const from = flag(copy, 'from');
        if (from === undefined) continue;
        expect(stages.slice(0, index).map((s) => s.name)).toContain(from);
      }
    });
    expect(problems).toEqual([]);
  });

  it('copies into the runtime stage only dist/, node_modules, package.json and crds/generated', () => {
    const copies = of(runtime, 'COPY');
    expect(copies.every((c) => flag(c, 'from') !== undefined)).toBe(true);
    expect(
      copies
        .map((c) => args(c).slice(0, -1))
        .flat()
        .sort(),
    ).toEqual(['/app/crds/generated', '/app/dist', '/app/node_modules', '/app/package.json'].sort());
    // Root-owned code, not writable by the process; nothing run at build time in the final stage.
    expect(copies.map((c) => flag(c, 'chown'))).toEqual(copies.map(() => undefined));
    expect(of(runtime, 'RUN')).toEqual([]);
    expect(of(runtime, 'VOLUME')).toEqual([]);
  });

  it('installs with npm install, not npm ci (the lock file lacks other platforms), and prunes dev dependencies', () => {
    const runs = all('RUN').map(text);
    expect(runs.some((r) => /\bnpm install\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(false);
    expect(runs.some((r) => /\bnpm prune --omit=dev\b/.test(r))).toBe(true);
    expect(dockerfile.getComments().some((c) => /npm ci/.test(c.getContent()))).toBe(true);
  });

  it('pre-builds the workflow bundle with the CLI, at the path WORKFLOW_BUNDLE_PATH names', () => {
    expect(COMMANDS.bundle?.options).toHaveProperty('out');
    expect(pkg.scripts.build).toMatch(/\btsc -p tsconfig\.build\.json\b/);
    const bundle = all('RUN')
      .map((i) => /\bnode (\S+) bundle --out (\S+)/.exec(text(i)))
      .find(Boolean);
    expect(bundle).toBeTruthy();
    expect(bundle![1]).toBe(build.outputOf('cmd/cli.ts'));
    const env = Object.fromEntries(of(runtime, 'ENV').flatMap(properties));
    expect(env.NODE_ENV).toBe('production');
    expect(CONFIG_KEYS).toContain('WORKFLOW_BUNDLE_PATH');
    const buildStage = stages.find((s) => of(s, 'RUN').some((i) => /bundle --out/.test(text(i))))!;
    expect(env.WORKFLOW_BUNDLE_PATH).toBe(path.posix.resolve(walk.get(buildStage.name)!.cwd, bundle![2]!));
    expect(has(walk.get(runtime.name)!, env.WORKFLOW_BUNDLE_PATH!)).toBe(true);
  });

  it('compiles only runtime code: the CLI and its commands, no test bed, no tests', () => {
    for (const file of [
      'cmd/cli.ts',
      'cmd/bundle.ts',
      'cmd/worker.ts',
      'cmd/watcher.ts',
      'workflows/index.ts',
    ]) {
      expect(build.included).toContain(file);
    }
    const devOnly = build.compiled.filter(
      (f) => /^(tools|test)\//.test(f) || /\.test\.ts$/.test(f) || f === 'cmd/dev.ts',
    );
    expect(devOnly).toEqual([]);
    // require.resolve('../workflows') from dist/cmd/worker.js must find the compiled workflows.
    expect(build.outputOf('workflows/index.ts')).toBe(
      path.posix.join(path.dirname(build.outputOf('cmd/worker.ts')), '..', 'workflows', 'index.js'),
    );
  });

  it('keeps the test bed, VCS data and build output out of the build context', () => {
    for (const p of [
      'node_modules',
      'dist',
      '.bin',
      '.stack',
      '.git',
      'test',
      'tools',
      'crds/database.test.ts',
    ]) {
      expect([p, ignored(p)]).toEqual([p, true]);
    }
    for (const p of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'crds/generated/x.yaml',
    ]) {
      expect([p, ignored(p)]).toEqual([p, false]);
    }
  });

  it('exposes HTTP_PORT and carries the OCI labels', () => {
    const port = (loadConfig({}) as { HTTP_PORT?: number }).HTTP_PORT ?? 8080;
    expect(all('EXPOSE').flatMap(args)).toEqual([String(port)]);
    const labels = Object.fromEntries(of(runtime, 'LABEL').flatMap(properties));
    expect(labels['org.opencontainers.image.title']).toBe('durable-db-operator');
    expect(labels['org.opencontainers.image.description']).toBeTruthy();
    expect(labels['org.opencontainers.image.licenses']).toBe(pkg.license);
    expect(labels['org.opencontainers.image.version']).toBe('${VERSION}');
    const version = of(runtime, 'ARG')
      .flatMap(properties)
      .find(([name]) => name === 'VERSION');
    expect(version?.[1]).toBe(pkg.version);
  });
});
