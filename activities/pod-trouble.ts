import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/**
 * The first thing that keeps a member pod from being Ready, lowest ordinal first, in the words of
 * whoever said it: a data volume claim that cannot bind (`pendingClaims`: claim name → why, from
 * its Events), the scheduler (Unschedulable: 0/2 nodes are available …), the kubelet (an image
 * that cannot be pulled, a container waiting in CrashLoopBackOff …, or its last exit), or a probe
 * still failing. Undefined when every pod is Ready or nothing says why.
 *
 * Worded to stay the same while the cause does (the Ready condition is rewritten only when its
 * text changes): the kubelet's alternating ErrImagePull / ImagePullBackOff become one sentence
 * naming the image, and the growing back-off of a crash loop is left out.
 */
/** The pod's Ready condition is True. */
export function isPodReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export function podTrouble(pods: V1Pod[], pendingClaims: Record<string, string> = {}): string | undefined {
  const sorted = [...pods].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const pod of sorted) {
    const name = pod.metadata?.name ?? '?';
    const conditions = pod.status?.conditions ?? [];
    if (isPodReady(pod)) continue;
    const claim = (pod.spec?.volumes ?? [])
      .map((v) => v.persistentVolumeClaim?.claimName)
      .find((c): c is string => !!c && c in pendingClaims);
    if (claim) return clip(`${name}: volume claim ${claim} is not bound: ${pendingClaims[claim]}`);
    const scheduled = conditions.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') {
      return clip(
        `${name}: ${scheduled.reason ?? 'not scheduled'}${scheduled.message ? `: ${scheduled.message}` : ''}`,
      );
    }
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const c of statuses) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && IMAGE_PULL.has(waiting.reason)) {
        return clip(
          `${name}: container ${c.name} cannot pull image "${imageOf(pod, c)}" (${IMAGE_PULL_TEXT})`,
        );
      }
      if (waiting?.reason && waiting.reason !== 'PodInitializing' && waiting.reason !== 'ContainerCreating') {
        const last = c.lastState?.terminated;
        const exit = last
          ? `; last exit ${last.exitCode}${last.message ? `: ${last.message}` : last.reason ? ` (${last.reason})` : ''}`
          : '';
        const said = waiting.message ? `: ${withoutBackOff(waiting.message)}` : '';
        return clip(`${name}: container ${c.name} ${waiting.reason}${said}${exit}`);
      }
      const terminated = c.state?.terminated;
      if (terminated && terminated.exitCode !== 0) {
        return clip(
          `${name}: container ${c.name} exited ${terminated.exitCode}${terminated.message ? `: ${terminated.message}` : terminated.reason ? ` (${terminated.reason})` : ''}`,
        );
      }
    }
    const running = (pod.status?.containerStatuses ?? []).find((c) => c.state?.running && !c.ready);
    if (running) return clip(`${name}: container ${running.name} ${probeNotPassing(running)}`);
  }
  return undefined;
}

/** The kubelet alternates between these while it retries a pull. */
const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull']);
const IMAGE_PULL_TEXT = 'ErrImagePull/ImagePullBackOff';

/** The image as the pod spec names it (the status may show a resolved or empty one). */
function imageOf(pod: V1Pod, c: V1ContainerStatus): string {
  const spec = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
    (s) => s.name === c.name,
  );
  return spec?.image ?? c.image;
}

/** "back-off 40s restarting failed container=…" → "back-off restarting failed container=…". */
function withoutBackOff(message: string): string {
  return message.replace(/\bback-off \d[\dhms.]* /i, 'back-off ');
}

/**
 * Which probe holds a running container back: the startup probe until it has passed once (the
 * kubelet runs no readiness probe before), the readiness probe after (an engine that stopped
 * answering). On a real node this is the usual reason a pod runs without being Ready.
 */
export function probeNotPassing(c: V1ContainerStatus): string {
  return c.started === false
    ? 'running, startup probe not passing yet'
    : 'running, readiness probe not passing';
}

/** One line, bounded: the workflow's statusText bounds and cleans it again. */
export function clip(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 400);
}
