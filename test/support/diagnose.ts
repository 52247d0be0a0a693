import * as k8s from '@kubernetes/client-node';
import { DATABASE, GROUP, LABEL_INSTANCE, VERSION, type Database } from '../../crds';
import { kubeConfig } from './stack';

/**
 * What a failed wait on a Database saw, for the test's error: CI keeps only what the tests print,
 * so a timeout must carry the state that explains it (the Database's status, its member pods with
 * their nodes and containers, the nodes' readiness, the namespace's latest Events).
 */
export async function describeDatabase(namespace: string, name: string, db?: Database): Promise<string> {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const lines: string[] = [];
  const section = async (title: string, body: () => Promise<string[]>) => {
    try {
      lines.push(`${title}:`, ...(await body()).map((l) => `  ${l}`));
    } catch (err) {
      lines.push(`${title}: (unreadable: ${err instanceof Error ? err.message : String(err)})`);
    }
  };
  await section(`Database ${namespace}/${name}`, async () => {
    const d =
      db ??
      ((await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: DATABASE.plural,
        namespace,
        name,
      })) as Database);
    const s = d.status;
    return [
      `generation ${d.metadata.generation} observed ${s?.observedGeneration} phase ${s?.phase} primary ${s?.currentPrimary} target ${s?.targetPrimary ?? '-'}`,
      ...(s?.conditions ?? []).map((c) => `condition ${c.type}=${c.status} ${c.reason}: ${c.message}`),
      ...(s?.members ?? []).map((m) => `member ${m.name} ${m.role ?? '?'} ${m.state ?? '?'}`),
    ];
  });
  await section('pods', async () => {
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `${LABEL_INSTANCE}=${name}` });
    return pods.items.map((p) => {
      const containers = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
        .map((c) => {
          const state = c.state?.running
            ? 'running'
            : c.state?.waiting
              ? `waiting ${c.state.waiting.reason ?? ''}`
              : c.state?.terminated
                ? `terminated ${c.state.terminated.exitCode} ${c.state.terminated.reason ?? ''}`
                : '?';
          return `${c.name}=${state}${c.ready ? ' ready' : ''} restarts ${c.restartCount}`;
        })
        .join(', ');
      const deleting = p.metadata?.deletionTimestamp ? ' deleting' : '';
      const role = p.metadata?.labels?.['durable.dev/role'] ?? '-';
      return `${p.metadata?.name} on ${p.spec?.nodeName ?? '(unscheduled)'} ${p.status?.phase}${deleting} role ${role} ip ${p.status?.podIP ?? '-'}: ${containers}`;
    });
  });
  await section('nodes', async () =>
    (await core.listNode()).items.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
      const taints = (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).join(',');
      return `${n.metadata?.name} Ready=${ready?.status} (${ready?.reason})${taints ? ` taints ${taints}` : ''}`;
    }),
  );
  await section('latest Events', async () => {
    const events = (await core.listNamespacedEvent({ namespace })).items;
    const at = (e: k8s.CoreV1Event) =>
      new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime();
    return events
      .sort((a, b) => at(a) - at(b))
      .slice(-25)
      .map(
        (e) =>
          `${new Date(at(e)).toISOString().slice(11, 19)} ${e.involvedObject?.kind}/${e.involvedObject?.name} ${e.reason}: ${e.message}`,
      );
  });
  return lines.join('\n');
}

/** Runs `wait`; when it fails, the error carries what describeDatabase saw. */
export async function explainingTimeout<T>(
  namespace: string,
  name: string,
  wait: () => Promise<T>,
): Promise<T> {
  try {
    return await wait();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\n${await describeDatabase(namespace, name)}`);
  }
}
