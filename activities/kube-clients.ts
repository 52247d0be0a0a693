import * as k8s from '@kubernetes/client-node';

/** The API clients the activities use, made once per worker from its KubeConfig. */
export interface KubeClients {
  objects: k8s.KubernetesObjectApi;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  batch: k8s.BatchV1Api;
  storage: k8s.StorageV1Api;
  custom: k8s.CustomObjectsApi;
  /** For watches (activities/readiness.ts watches the StatefulSet it waits for). */
  kubeConfig: k8s.KubeConfig;
}

export function makeKubeClients(kc: k8s.KubeConfig): KubeClients {
  return {
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    storage: kc.makeApiClient(k8s.StorageV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    kubeConfig: kc,
  };
}

export { FIELD_MANAGER } from '../crds';
