import { age, colourOf, humanBytes, paint, renderTable, type Io } from './output';
import type { StatusView } from './status-model';

/** `kubectl durable status` as text: a header block, then members and recent Events as tables. */
export function renderStatus(v: StatusView, io: Pick<Io, 'tty' | 'columns'>, now: Date): string {
  const c = io.tty;
  const label = (s: string) => paint(s.padEnd(12), 'bold', c);
  const lines: string[] = [];
  const running = v.currentVersion && v.currentVersion !== v.version ? ` (runs ${v.currentVersion})` : '';
  lines.push(`${label('Database')}${v.namespace}/${v.name}`);
  lines.push(`${label('Engine')}${v.engine} ${v.version}${running}${v.image ? `, image ${v.image}` : ''}`);
  // The Ready condition's reason, unless it only repeats the phase; then its message.
  const reason = v.reason && v.reason !== v.phase ? v.reason : undefined;
  const why = [reason, v.message].filter(Boolean).join(': ');
  lines.push(`${label('Phase')}${paint(v.phase, colourOf(v.phase), c)}${why ? `  ${why}` : ''}`);
  const gen =
    v.observedGeneration !== undefined && v.generation !== undefined && v.observedGeneration !== v.generation
      ? `  (generation ${v.generation}, observed ${v.observedGeneration})`
      : '';
  lines.push(`${label('Replicas')}${v.replicas.ready}/${v.replicas.desired} ready${gen}`);
  const ep = v.endpoints;
  lines.push(`${label('Primary')}${ep.primary.service}:${ep.primary.port}  (${ep.primary.host})`);
  lines.push(`${label('Read-only')}${ep.readOnly.service}:${ep.readOnly.port}  (${ep.readOnly.host})`);
  const b = v.lastBackup;
  lines.push(
    `${label('Last backup')}${
      b
        ? `${b.name}  ${paint(b.phase, colourOf(b.phase), c)}${b.finishedAt ? `  ${age(b.finishedAt, now)} ago` : ''}` +
          `${b.sizeBytes !== undefined ? `  ${humanBytes(b.sizeBytes)}` : ''}${b.location ? `  ${b.location}` : ''}`
        : 'none'
    }`,
  );
  const r = v.restorable;
  const point = (s: { name: string; finishedAt?: string }) => `${s.name} (${age(s.finishedAt, now)} ago)`;
  lines.push(
    `${label('Restorable')}${
      r.count === 0
        ? 'no Succeeded backup'
        : r.count === 1
          ? `1 backup: ${point(r.newest!)}`
          : `${r.count} backups, from ${point(r.oldest!)} to ${point(r.newest!)}`
    }`,
  );
  lines.push(`${label('Operation')}${v.operations.length ? v.operations.join('; ') : 'none'}`);
  const step = v.workflow.step
    ? `  step: ${v.workflow.step}`
    : v.workflow.note
      ? `  (${v.workflow.note})`
      : '';
  lines.push(`${label('Workflow')}${v.workflow.id}${step}`);
  if (v.workflow.url) lines.push(`${label('Temporal UI')}${v.workflow.url}`);
  // Conditions worth a line: those not True (Ready is the Phase line), and Progressing while True
  // (work under way), whose normal state is False.
  const notable = v.conditions.filter((x) =>
    x.type === 'Progressing' ? x.status === 'True' : x.status !== 'True' && x.type !== 'Ready',
  );
  for (const x of notable) {
    lines.push(
      `${label('Condition')}${x.type}=${paint(x.status, colourOf(x.status), c)}  ${x.reason}: ${x.message}`,
    );
  }
  const out = [`${lines.join('\n')}\n`, '\n'];
  out.push(
    renderTable(
      [
        { header: 'member' },
        { header: 'role', colour: colourOf },
        { header: 'state', colour: colourOf },
        { header: 'ready', colour: (r) => (r === 'true' ? 'green' : 'red') },
        { header: 'restarts' },
        { header: 'lag' },
        { header: 'node' },
      ],
      v.members.map((m) => [
        m.name,
        m.role,
        m.state,
        String(m.ready),
        String(m.restarts),
        m.role === 'primary' ? '-' : (m.lag ?? '-'),
        m.node ?? '-',
      ]),
      { width: io.columns, colour: c },
    ),
  );
  out.push('\n');
  if (v.events.length === 0) out.push('No Events.\n');
  else {
    out.push(
      renderTable(
        [
          { header: 'age' },
          { header: 'type', colour: colourOf },
          { header: 'reason' },
          { header: 'message' },
        ],
        v.events.map((e) => [
          age(e.time, now),
          e.type,
          e.count > 1 ? `${e.reason} (x${e.count})` : e.reason,
          e.message,
        ]),
        { width: io.columns, colour: c },
      ),
    );
  }
  return out.join('');
}
