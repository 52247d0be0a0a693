#!/usr/bin/env node
/**
 * `durable-db-operator` — the package's command line (package.json "bin") and the container image's
 * ENTRYPOINT. One binary, one command per process role:
 *
 *   durable-db-operator worker               the Temporal worker (workflows and activities)
 *   durable-db-operator watcher              the watcher (Kubernetes changes → workflow signals)
 *   durable-db-operator bundle [--out FILE]  the pre-built workflow bundle for WORKFLOW_BUNDLE_PATH
 *   durable-db-operator crds                 the CRD YAML, for `| kubectl apply -f -`
 *
 * Each command's module is loaded only when it runs, so `--help` and `crds` start instantly and do not
 * load the Temporal native runtime or the Kubernetes client.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const PROGRAM = 'durable-db-operator';

type Values = Record<string, string | boolean | undefined>;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface Command {
  /** What follows the command's name in its usage line. */
  args: string;
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run: (values: Values, io: Io) => Promise<void>;
}

export const COMMANDS: Record<string, Command> = {
  worker: {
    args: '',
    summary: 'Run the Temporal worker: the Database workflows and their activities.',
    options: {},
    run: async () => (await import('./worker.js')).main(),
  },
  watcher: {
    args: '',
    summary: 'Run the watcher: turns Database changes into workflow signals (leader-elected).',
    options: {},
    run: async () => (await import('./watcher.js')).main(),
  },
  bundle: {
    args: '[--out FILE]',
    summary: 'Bundle the workflow code into FILE (stdout without --out), for WORKFLOW_BUNDLE_PATH.',
    options: { out: { type: 'string', short: 'o' } },
    run: async ({ out }, io) => {
      const { buildWorkflowBundle, writeWorkflowBundle } = await import('./bundle.js');
      if (typeof out !== 'string' || out === '-') {
        io.out(await buildWorkflowBundle());
        return;
      }
      const written = await writeWorkflowBundle(out);
      io.err(`workflow bundle written to ${written.path} (${written.bytes} bytes)\n`);
    },
  },
  crds: {
    args: '',
    summary: `Print the CustomResourceDefinitions: ${PROGRAM} crds | kubectl apply --server-side -f -`,
    options: {},
    run: async (_values, io) => io.out(crdsYaml()),
  },
};

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => [`${name} ${c.args}`.trim(), c.summary]);
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2;
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Kubernetes operator for PostgreSQL and MySQL Databases; its control logic runs as Temporal workflows.',
    '',
    'Commands:',
    ...rows.map(([left, right]) => `  ${left!.padEnd(width)}${right}`),
    '',
    'Options:',
    '  -h, --help     show this help, or a command\'s ("worker --help")',
    '      --version  print the version',
    '',
    'worker and watcher are configured by environment variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,',
    'KUBECONFIG, WORKFLOW_BUNDLE_PATH, ...); see the README. A bad value stops them at start.',
    '',
  ].join('\n');
}

function commandUsage(name: string, command: Command): string {
  return `Usage: ${PROGRAM} ${`${name} ${command.args}`.trim()}\n\n${command.summary}\n`;
}

/** The package's root: the nearest directory above this file with our package.json (src or dist). */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === PROGRAM) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the ${PROGRAM} package.json above ${from}`);
  }
}

/** The generated CRDs (crds/generated/*.yaml) as one multi-document YAML stream. */
export function crdsYaml(root: string = packageRoot()): string {
  const dir = path.join(root, 'crds', 'generated');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
  if (files.length === 0) throw new Error(`no CRD YAML in ${dir}`);
  return files
    .sort()
    .map((f) => `${fs.readFileSync(path.join(dir, f), 'utf8').trimEnd()}\n`)
    .join('---\n');
}

/**
 * Runs the command line and returns the exit code (0 ok, 1 failure, 2 usage error). worker and
 * watcher resolve once they have started (watcher) or stopped (worker); the process stays up for
 * as long as they have work scheduled.
 */
export async function runCli(
  argv: string[],
  io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.err(usage());
    return 2;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    io.out(usage());
    return 0;
  }
  if (first === '--version') {
    io.out(`${JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version}\n`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!command) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    io.err(`${PROGRAM}: ${what}; commands: ${Object.keys(COMMANDS).join(', ')} (see ${PROGRAM} --help)\n`);
    return 2;
  }
  let values: Values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { ...command.options, ...HELP_OPTION },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`${PROGRAM} ${first}: ${err instanceof Error ? err.message : String(err)}\n`);
    io.err(commandUsage(first, command));
    return 2;
  }
  if (values.help) {
    io.out(commandUsage(first, command));
    return 0;
  }
  await command.run(values, io);
  return 0;
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      // Not process.exit(): the watcher keeps running on its informers after run() has resolved.
      if (code !== 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
