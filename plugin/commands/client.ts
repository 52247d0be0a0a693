import { spawn } from 'node:child_process';
import type { Database } from '../../crds';
import { CONTAINER_NAME, podName } from '../../contracts/names';
import { engineProfile } from '../../activities/manifests/engines';
import { getDatabase, getPods, kubeTarget, kubectlBinary } from '../kube';
import type { Invocation } from '../main';
import { UserError } from '../output';

/**
 * `psql <db>` / `mysql <db>`: the engine's own client in the member's database container, through
 * `kubectl exec`.
 *
 * Where the password comes from: the container's environment already holds the superuser's
 * password, put there by the kubelet from the Secret `<db>-credentials` (`secretKeyRef`,
 * activities/manifests/statefulset.ts env(): POSTGRES_PASSWORD, MARIADB_ROOT_PASSWORD or
 * MYSQL_ROOT_PASSWORD). So the plugin never reads the Secret at all: the command it runs is a fixed
 * `sh -c` script naming the variable (`PGPASSWORD="$POSTGRES_PASSWORD" exec psql …`), which the
 * shell expands inside the container. The password is on no command line (neither kubectl's on
 * this machine nor the client's in the pod), in no output, and never crosses the network to us.
 * Passing it from here instead would need either a command-line argument (visible in `ps`) or
 * stdin, which the interactive session needs for itself. The client connects over TCP to
 * 127.0.0.1 with that password, so the session is authenticated as a user's would be, not by the
 * socket's trust rule. Arguments after `--` go to the client as they are (`"$@"`: no shell
 * interpretation of them).
 */
export type ClientCommand = 'psql' | 'mysql';

export interface ClientPlan {
  pod: string;
  role: 'primary' | 'replica';
  /** kubectl's arguments after the target's flags. */
  args: string[];
}

export function clientScript(db: Pick<Database, 'spec'>): { script: string; program: string } {
  const { engine, version, image } = db.spec;
  const profile = engineProfile(engine, version, image);
  if (engine === 'postgres') {
    return {
      program: 'psql',
      script: `PGPASSWORD="$${profile.passwordEnv}" exec psql -h 127.0.0.1 -p ${profile.port} -U ${profile.superuser} "$@"`,
    };
  }
  const program = engine === 'mariadb' ? 'mariadb' : 'mysql';
  return {
    program,
    script: `MYSQL_PWD="$${profile.passwordEnv}" exec ${program} -h 127.0.0.1 -P ${profile.port} -u ${profile.superuser} "$@"`,
  };
}

export function clientPlan(
  command: ClientCommand,
  db: Database,
  readyPods: Set<string>,
  opts: { replica: boolean; tty: boolean; passthrough: string[] },
): ClientPlan {
  const name = db.metadata.name!;
  const wantsPostgres = command === 'psql';
  if (wantsPostgres !== (db.spec.engine === 'postgres')) {
    const other = db.spec.engine === 'postgres' ? 'psql' : 'mysql';
    throw new UserError(`${name} is a ${db.spec.engine} Database`, `kubectl durable ${other} ${name}`);
  }
  const members = db.status?.members ?? [];
  let pod: string;
  if (opts.replica) {
    const replicas = members.filter((m) => m.role === 'replica').map((m) => m.name);
    const ready = replicas.find((r) => readyPods.has(r));
    if (!ready) {
      throw new UserError(
        replicas.length
          ? `no replica of ${name} is Ready (${replicas.join(', ')})`
          : `${name} has no replica`,
        replicas.length
          ? `kubectl durable status ${name}`
          : `drop --replica, or scale: kubectl patch db ${name} --type merge -p '{"spec":{"replicas":2}}'`,
      );
    }
    pod = ready;
  } else {
    pod = members.find((m) => m.role === 'primary')?.name ?? podName(name, 0);
    if (!readyPods.has(pod))
      throw new UserError(`the primary ${pod} is not Ready`, `kubectl durable status ${name}`);
  }
  const { script, program } = clientScript(db);
  return {
    pod,
    role: opts.replica ? 'replica' : 'primary',
    args: [
      'exec',
      '-i',
      ...(opts.tty ? ['-t'] : []),
      pod,
      '-c',
      CONTAINER_NAME,
      '--',
      'sh',
      '-c',
      script,
      program,
      ...opts.passthrough,
    ],
  };
}

export async function client(command: ClientCommand, inv: Invocation): Promise<number> {
  const t = kubeTarget(inv.values as { kubeconfig?: string; context?: string; namespace?: string });
  const db = await getDatabase(t, inv.args[0]!);
  const names = [
    ...new Set([...(db.status?.members ?? []).map((m) => m.name), podName(db.metadata.name!, 0)]),
  ];
  const pods = await getPods(t, names);
  const ready = new Set(
    [...pods]
      .filter(([, p]) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map(([n]) => n),
  );
  // A terminal on both ends: an interactive session (-t). Otherwise (a pipe, a script): plain stdin.
  const tty = !!process.stdin.isTTY && !!process.stdout.isTTY;
  const plan = clientPlan(command, db, ready, {
    replica: !!inv.values.replica,
    tty,
    passthrough: inv.passthrough,
  });
  if (tty) inv.io.err(`connecting to ${plan.pod} (${plan.role}) of ${t.namespace}/${db.metadata.name}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlBinary(), [...t.kubectlFlags, ...plan.args], { stdio: 'inherit' });
    child.on('error', (err) =>
      reject(
        new UserError(
          `cannot run ${kubectlBinary()}: ${err.message}`,
          'put kubectl on PATH, or set KUBECTL to its path',
        ),
      ),
    );
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
