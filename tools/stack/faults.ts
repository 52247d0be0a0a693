/**
 * Fault injection on the local stack, for tests: kwok stages that make chosen pods fail or never
 * become Ready, while every other pod keeps kwok's default behaviour (Running and Ready; the pods
 * of Jobs complete).
 *
 * How: kwok runs with its stages in the API server (tools/stack/kubernetes.ts). When several
 * stages match a pod, kwok v0.7.0 chooses only among those with a positive weight
 * (pkg/utils/lifecycle Lifecycle.Match), and the default stages have none. A fault stage has
 * weight 1, so it wins wherever it matches and the default stages need no exclusions. Each call
 * creates one Stage object of its own, so tests running concurrently never write the same object.
 * kwok sees a new stage through its watch within milliseconds: call these before the pods exist.
 */
import crypto from 'node:crypto';
import { applyYaml } from './kubernetes';

/** Every fault stage carries this label (its value says which fault), for `kubectl get stages -l`. */
export const FAULT_STAGE_LABEL = 'local-stack.durable.dev/fault';

/** Set by the Job controller on every pod of a Job. */
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';

/** The exit code of a failed container (what a failing shell command would give). */
export const FAILED_EXIT_CODE = 1;

/**
 * The pods of these Jobs (any namespace) end Failed: once Running, every container terminates
 * with exit code 1, reason Error and this message (as a termination message), and the pod phase
 * turns Failed, so the Job controller counts a failed pod (as with restartPolicy Never).
 */
export async function failJobPods(
  kubeconfig: string,
  jobNames: string[],
  message = 'failure injected by the local stack',
): Promise<void> {
  if (jobNames.length === 0) return;
  await addFaultStage(kubeconfig, 'job-pod-failed', {
    matchExpressions: [
      { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
      { key: '.status.phase', operator: 'In', values: ['Running'] },
      { key: `.metadata.labels["${JOB_NAME_LABEL}"]`, operator: 'In', values: jobNames },
    ],
    statusTemplate: failedStatusTemplate(message),
  });
}

/**
 * Pods with a container whose image is one of these (exactly as written in the pod spec) become
 * Running but never Ready: their containers run and are not ready, as with a failing readiness
 * probe. Deleting such a pod works as usual.
 */
export async function neverReadyImages(kubeconfig: string, images: string[]): Promise<void> {
  if (images.length === 0) return;
  await addFaultStage(kubeconfig, 'never-ready', {
    // The conditions of kwok's pod-ready stage, which this one replaces for these pods.
    matchExpressions: [
      { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
      { key: '.status.podIP', operator: 'DoesNotExist' },
      { key: '.spec.containers.[].image', operator: 'In', values: images },
    ],
    statusTemplate: RUNNING_NOT_READY_TEMPLATE,
  });
}

interface FaultStage {
  matchExpressions: { key: string; operator: 'In' | 'DoesNotExist'; values?: string[] }[];
  statusTemplate: string;
}

async function addFaultStage(kubeconfig: string, fault: string, stage: FaultStage): Promise<void> {
  const object = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: {
      name: `fault-${fault}-${crypto.randomBytes(5).toString('hex')}`,
      labels: { [FAULT_STAGE_LABEL]: fault },
    },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: { matchExpressions: stage.matchExpressions },
      weight: 1,
      next: { statusTemplate: stage.statusTemplate },
    },
  };
  // JSON is YAML; a fresh name makes this a create that no other caller can conflict with.
  await applyYaml(kubeconfig, JSON.stringify(object));
}

/**
 * The start of a status template (kwok renders it as a Go template into a status patch): the pod
 * and every container not ready, each container in the state given as YAML (indented by 4).
 */
function notReadyTemplate(reason: string, started: boolean, containerState: string): string {
  return `{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ${reason}
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ${reason}
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: ${started}
  restartCount: 0
  state:
${containerState}
{{ end }}
`;
}

/**
 * The message goes in as a Go string literal inside a template action (JSON string syntax is
 * valid Go syntax once lone surrogates are gone), so braces or quotes in it are neither template
 * actions nor YAML; Quote writes it out as a YAML string.
 */
function failedStatusTemplate(message: string): string {
  const literal = JSON.stringify(message.replace(/\p{Surrogate}/gu, '\uFFFD'));
  const terminated = `    terminated:
      exitCode: ${FAILED_EXIT_CODE}
      reason: Error
      message: {{ ${literal} | Quote }}
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}`;
  return `${notReadyTemplate('PodFailed', false, terminated)}phase: Failed\n`;
}

/** kwok's pod-ready template (kwok/default-stages.yaml) with the pod and containers not ready. */
const RUNNING_NOT_READY_TEMPLATE = `${notReadyTemplate(
  'ContainersNotReady',
  true,
  `    running:
      startedAt: {{ $now | Quote }}`,
)}initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  {{ if eq .restartPolicy "Always" }}
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
  {{ else }}
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
  {{ end }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
`;
