import { memberOrdinal } from '../../contracts/names';
import { SWITCHOVER_ANNOTATION, type Database } from '../../crds';
import { annotateDatabase, getDatabase, kubeTarget } from '../kube';
import type { Invocation } from '../main';
import { UserError, paint } from '../output';
import { timeoutOption } from '../follow';

/**
 * `switchover <db> <member>`: the planned switchover the README describes, as the annotation
 * durable.dev/switchover-to=<member> (the watcher hands it to the Database's workflow). With
 * --wait, follows status.switchover until that request settles and exits 1 unless it switched.
 */
export async function switchover(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const [name, member] = [inv.args[0]!, inv.args[1]!];
  const db = await getDatabase(t, name);
  const replicas = db.spec?.replicas ?? 1;
  const ordinal = /^[0-9]{1,3}$/.test(member) ? Number(member) : memberOrdinal(name, member);
  if (ordinal === undefined || ordinal >= replicas) {
    throw new UserError(
      `'${member}' is not a member of ${name}`,
      replicas > 1 ? `name one of ${name}-0 … ${name}-${replicas - 1}` : `${name} has one member`,
    );
  }
  const to = `${name}-${ordinal}`;
  const timeoutSeconds = timeoutOption(values.timeout, 120);
  const asked = Date.now();
  await annotateDatabase(t, name, SWITCHOVER_ANNOTATION, to);
  io.err(`database.durable.dev/${name} annotated ${SWITCHOVER_ANNOTATION}=${to}\n`);
  if (!values.wait) return 0;
  const deadline = asked + timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const now = await getDatabase(t, name);
    const s = settledFor(now, to, asked);
    if (s?.state && s.state !== 'Running') {
      const ok = s.state === 'SwitchedOver';
      io.out(`switchover to ${to} ${paint(s.state, ok ? 'green' : 'red', io.tty)}: ${s.reason ?? ''}\n`);
      return ok ? 0 : 1;
    }
    const seen = s?.state ?? 'Requested';
    if (seen !== last) {
      io.err(`  ${seen}${s?.reason ? ` (${s.reason})` : ''}\n`);
      last = seen;
    }
    if (Date.now() >= deadline) {
      throw new UserError(
        `the switchover to ${to} did not settle within ${timeoutSeconds}s`,
        `kubectl durable status ${name} -n ${t.namespace}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** status.switchover when it is about this request (`to`, since `asked`, a second's slack). */
export function settledFor(
  db: Database,
  to: string,
  asked: number,
): NonNullable<Database['status']>['switchover'] {
  const s = db.status?.switchover;
  return s?.to === to && s.time && Date.parse(s.time) >= asked - 1_000 ? s : undefined;
}
