import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError, processIo, type Io } from './output';

/**
 * `kubectl durable`: the kubectl plugin of durable-db-operator (binary `kubectl-durable`, entry
 * cmd/kubectl-durable.ts). One module per command under plugin/commands/, loaded only when it
 * runs, so `--help` answers at once without the Kubernetes or Temporal clients.
 */
export const PLUGIN = 'kubectl durable';

export type Values = Record<string, string | boolean | undefined>;

export interface Invocation {
  values: Values;
  /** Positional arguments (the Database's name first). */
  args: string[];
  /** What follows `--` (psql/mysql pass it to the client). */
  passthrough: string[];
  io: Io;
}

export interface Command {
  usage: string;
  summary: string;
  /** Positional arguments required. */
  args: number;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Lines of help beyond the summary. */
  details?: string[];
  run: (inv: Invocation) => Promise<number>;
}

const KUBE_OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
} as const;
const TEMPORAL_OPTIONS = {
  'temporal-address': { type: 'string' },
  'temporal-namespace': { type: 'string' },
  'temporal-ui': { type: 'string' },
} as const;
const OUTPUT_OPTION = { output: { type: 'string', short: 'o' } } as const;
/** --wait and how long it waits. */
const WAIT_OPTIONS = { wait: { type: 'boolean', short: 'w' }, timeout: { type: 'string' } } as const;

// require, not import(): the code is CommonJS, and Jest's sandbox runs no dynamic import.
/* eslint-disable @typescript-eslint/no-require-imports */
export const COMMANDS: Record<string, Command> = {
  status: {
    usage: 'status <db> [-o json|yaml]',
    summary:
      'Engine, phase and why, members (role, state, lag, node), endpoints, last backup, running operation, Events, Temporal link.',
    args: 1,
    options: { ...KUBE_OPTIONS, ...TEMPORAL_OPTIONS, ...OUTPUT_OPTION, 'no-lag': { type: 'boolean' } },
    details: ['--no-lag  do not exec into the members to measure replication lag'],
    run: (inv) => (require('./commands/status') as typeof import('./commands/status')).status(inv),
  },
  backups: {
    usage: 'backups <db> [-o json|yaml]',
    summary: "The Database's backups (DatabaseBackup objects), newest first.",
    args: 1,
    options: { ...KUBE_OPTIONS, ...OUTPUT_OPTION },
    run: (inv) => (require('./commands/backups') as typeof import('./commands/backups')).backups(inv),
  },
  backup: {
    usage: 'backup <db> [--name NAME] [--wait [--timeout SECONDS]]',
    summary:
      'Back the Database up now (a DatabaseBackup, reason manual); --wait prints the outcome, exit 1 if it failed.',
    args: 1,
    options: {
      ...KUBE_OPTIONS,
      name: { type: 'string' },
      ...WAIT_OPTIONS,
    },
    details: [
      '--name     the DatabaseBackup name (default <db>-manual-<yyyymmddhhmmss>)',
      '--timeout  seconds --wait waits (default 900)',
    ],
    run: (inv) => (require('./commands/backup') as typeof import('./commands/backup')).backup(inv),
  },
  psql: {
    usage: 'psql <db> [--replica] [-- PSQL-ARGS...]',
    summary:
      'A psql session on the primary (or a replica) of a PostgreSQL Database; the password never leaves the pod.',
    args: 1,
    options: { ...KUBE_OPTIONS, replica: { type: 'boolean' } },
    details: ["Example: kubectl durable psql orders-db -- -c 'select 42'"],
    run: (inv) => (require('./commands/client') as typeof import('./commands/client')).client('psql', inv),
  },
  mysql: {
    usage: 'mysql <db> [--replica] [-- CLIENT-ARGS...]',
    summary: 'A mariadb/mysql session on the primary (or a replica) of a MariaDB or MySQL Database.',
    args: 1,
    options: { ...KUBE_OPTIONS, replica: { type: 'boolean' } },
    details: ["Example: kubectl durable mysql shop-db -- -e 'select 42'"],
    run: (inv) => (require('./commands/client') as typeof import('./commands/client')).client('mysql', inv),
  },
  switchover: {
    usage: 'switchover <db> <member> [--wait [--timeout SECONDS]]',
    summary:
      'Move the primary role to <member> (<db>-<n>, or n) once it has every write of the primary; --wait prints the outcome, exit 1 unless it switched.',
    args: 2,
    options: { ...KUBE_OPTIONS, ...WAIT_OPTIONS },
    details: [
      'The annotation durable.dev/switchover-to=<member> on the Database, which the operator removes once handled.',
      'Aborted, with the primary left as it was, if <member> does not catch up within spec.failover.switchoverTimeoutSeconds.',
      '--timeout  seconds --wait waits (default 120)',
    ],
    run: (inv) =>
      (require('./commands/switchover') as typeof import('./commands/switchover')).switchover(inv),
  },
  'retry-backup': {
    usage: 'retry-backup <backup> [--wait [--timeout SECONDS]]',
    summary:
      'Retry a Failed DatabaseBackup (a new run, attempts numbered on); --wait prints the outcome, exit 1 if it failed again.',
    args: 1,
    options: { ...KUBE_OPTIONS, ...WAIT_OPTIONS },
    details: [
      'A new value of the annotation durable.dev/retry on the DatabaseBackup (README "Backups").',
      'Refused for a backup that Succeeded or is still running, and when its Database is gone.',
      '--timeout  seconds --wait waits (default 900)',
    ],
    run: (inv) =>
      (require('./commands/retry-backup') as typeof import('./commands/retry-backup')).retryBackup(inv),
  },
  'cancel-upgrade': {
    usage: 'cancel-upgrade <db> [--wait [--timeout SECONDS]]',
    summary:
      "Cancel the running upgrade (it rolls back): the Database's workflow answers accepted or rejected at once; exit 1 if rejected.",
    args: 1,
    options: {
      ...KUBE_OPTIONS,
      ...TEMPORAL_OPTIONS,
      ...WAIT_OPTIONS,
    },
    details: [
      'A Temporal Workflow Update (cancelUpgrade) to database/<ns>/<db>; rejected when no upgrade runs or it rolls back already.',
      'Where the Update is not available, the annotation durable.dev/cancel-upgrade=true asks instead.',
      '--wait     follow status.upgrade until the upgrade ended; exit 0 if it rolled back',
      '--timeout  seconds --wait waits (default 900)',
    ],
    run: (inv) =>
      (require('./commands/cancel-upgrade') as typeof import('./commands/cancel-upgrade')).cancelUpgrade(inv),
  },
  restore: {
    usage:
      'restore <backup> --to <new-db> [--version V] [--dry-run] [-o json|yaml] [--wait [--timeout SECONDS]]',
    summary:
      "A new Database restored from a Succeeded backup (spec.bootstrap.fromBackup), shaped like the backup's Database.",
    args: 1,
    options: {
      ...KUBE_OPTIONS,
      ...OUTPUT_OPTION,
      to: { type: 'string' },
      time: { type: 'string' },
      version: { type: 'string' },
      'dry-run': { type: 'boolean' },
      ...WAIT_OPTIONS,
    },
    details: [
      '--to       the new Database (must not exist)',
      '--version  the engine version (default: what the source Database runs; needed when it is gone)',
      '--dry-run  print the manifest (-o yaml, the default, or -o json) and create nothing',
      '--time     point-in-time restore: not available yet (a restore takes a whole backup)',
      '--wait     follow the new Database to Ready, or to a failed restore; exit 1 if it failed',
      '--timeout  seconds --wait waits (default 900)',
    ],
    run: (inv) => (require('./commands/restore') as typeof import('./commands/restore')).restore(inv),
  },
  history: {
    usage: 'history <db> [--limit N] [-o json|yaml]',
    summary:
      "What ran for the Database in Temporal: its workflow's runs, upgrades, backups; when and how it ended.",
    args: 1,
    options: { ...KUBE_OPTIONS, ...TEMPORAL_OPTIONS, ...OUTPUT_OPTION, limit: { type: 'string' } },
    run: (inv) => (require('./commands/history') as typeof import('./commands/history')).history(inv),
  },
};
/* eslint-enable @typescript-eslint/no-require-imports */

const COMMON_HELP = [
  'Options of every command:',
  "  -n, --namespace NS      the namespace (default: the kubeconfig context's, else default)",
  '      --kubeconfig FILE   the kubeconfig (default: KUBECONFIG, else ~/.kube/config)',
  '      --context NAME      a kubeconfig context other than the current one',
  '  -h, --help              this help',
  'Temporal (status, history, cancel-upgrade): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_UI_URL and the TLS',
  'settings the operator reads; --temporal-address, --temporal-namespace, --temporal-ui override them.',
];

export function usage(): string {
  return [
    `Usage: ${PLUGIN} <command> <db|backup> [options]`,
    '',
    'Look at and operate durable-db-operator Databases.',
    '',
    'Commands:',
    ...Object.values(COMMANDS).flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    '',
    ...COMMON_HELP,
    '',
  ].join('\n');
}

export function commandUsage(name: string, c: Command): string {
  return [
    `Usage: ${PLUGIN} ${c.usage}`,
    '',
    c.summary,
    '',
    ...(c.details ?? []),
    ...(c.details ? [''] : []),
    ...COMMON_HELP,
    '',
  ].join('\n');
}

/** Runs the plugin; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function runPlugin(argv: string[], io: Io = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    (first === undefined ? io.err : io.out)(usage());
    return first === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!command) {
    io.err(
      `${PLUGIN}: unknown command '${first}'; commands: ${Object.keys(COMMANDS).join(', ')} (see ${PLUGIN} --help)\n`,
    );
    return 2;
  }
  const dash = rest.indexOf('--');
  const own = dash >= 0 ? rest.slice(0, dash) : rest;
  const passthrough = dash >= 0 ? rest.slice(dash + 1) : [];
  let values: Values;
  let args: string[];
  try {
    ({ values, positionals: args } = parseArgs({
      args: own,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    }));
    if (!values.help && args.length !== command.args) {
      throw new Error(
        args.length < command.args
          ? args.length === 0
            ? `the ${command.usage.startsWith('<backup>', command.usage.indexOf(' ') + 1) ? 'DatabaseBackup' : 'Database'} name is missing`
            : 'an argument is missing'
          : `unexpected argument '${args[command.args]}'`,
      );
    }
  } catch (err) {
    io.err(
      `${PLUGIN} ${first}: ${err instanceof Error ? err.message : String(err)}\n\n${commandUsage(first, command)}`,
    );
    return 2;
  }
  if (values.help) {
    io.out(commandUsage(first, command));
    return 0;
  }
  try {
    return await command.run({ values, args, passthrough, io });
  } catch (err) {
    if (err instanceof UserError) {
      io.err(`error: ${err.message}\n${err.fix ? `  fix: ${err.fix}\n` : ''}`);
      return 1;
    }
    throw err;
  }
}
