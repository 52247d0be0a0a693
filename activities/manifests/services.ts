import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { DatabaseTarget } from '../types';
import { engineProfile } from './engines';
import { objectMeta, POD_NAME_LABEL, selectorLabels } from './labels';
import { objectNames, podName, PORT_NAME } from '../../contracts/names';

/** `[headless, primary, readOnly]`. */
export function renderServices(target: DatabaseTarget): [V1Service, V1Service, V1Service] {
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
      // Member 0 is the primary until failover exists.
      selector: { ...selectorLabels(target), [POD_NAME_LABEL]: podName(target.name, 0) },
      ports: ports(),
    },
  };

  const readOnly: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(target, names.readOnlyService, 'service'),
    spec: {
      type: 'ClusterIP',
      // Every Ready member, the primary included, so the endpoint works with one member. Routing
      // to replicas only arrives with replication, which labels each member with its role.
      selector: selectorLabels(target),
      ports: ports(),
    },
  };

  return [headless, primary, readOnly];
}
