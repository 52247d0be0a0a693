import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { DatabaseTarget } from '../types';
import { engineProfile } from './engines';
import { ROLE_LABEL } from '../../crds';
import { objectMeta, POD_NAME_LABEL, selectorLabels } from './labels';
import { objectNames, podName, PORT_NAME } from '../../contracts/names';

/**
 * `[headless, primary, readOnly]`. `primary` is the primary's ordinal, from the role record
 * (activities/roles.ts).
 */
export function renderServices(
  target: DatabaseTarget,
  roles: { primary: number },
): [V1Service, V1Service, V1Service] {
  const names = objectNames(target.name);
  const ports = (): V1ServicePort[] => [
    {
      name: PORT_NAME,
      port: engineProfile(target.spec.engine, target.spec.version).port,
      targetPort: PORT_NAME,
      protocol: 'TCP',
    },
  ];

  const headless: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    // Component `database`: it is part of the StatefulSet (its serviceName), not a client entry point.
    metadata: objectMeta(target, names.headlessService, 'database'),
    spec: {
      clusterIP: 'None',
      // Members must find each other by DNS while still starting, e.g. a replica its primary
      // before either is Ready.
      publishNotReadyAddresses: true,
      selector: selectorLabels(target),
      ports: ports(),
    },
  };

  const primary: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(target, names.primaryService, 'service'),
    spec: {
      type: 'ClusterIP',
      // The pod the role record names, by its pod name rather than by a role label: a selector
      // on a pod name matches one pod at most, so this Service can never route to two primaries,
      // and a primary's pod re-created by the StatefulSet controller (which knows nothing of
      // roles) is routed to as soon as it is Ready, without waiting for the operator to label it.
      selector: { ...selectorLabels(target), [POD_NAME_LABEL]: podName(target.name, roles.primary) },
      ports: ports(),
    },
  };

  const readOnly: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(target, names.readOnlyService, 'service'),
    spec: {
      type: 'ClusterIP',
      // The replicas, by the role label each replication pass gives the members; with one member,
      // that member, so the endpoint always works.
      selector:
        target.spec.replicas > 1
          ? { ...selectorLabels(target), [ROLE_LABEL]: 'replica' }
          : selectorLabels(target),
      ports: ports(),
    },
  };

  return [headless, primary, readOnly];
}
