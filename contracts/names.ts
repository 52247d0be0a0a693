import type { Engine } from '../crds';

/**
 * Names of the objects a Database owns. Every one is derived from the Database's name alone, so an
 * activity that is retried, or a workflow that restarts, always addresses the same objects.
 */

export interface ObjectNames {
  configMap: string;
  /** The record of which member is the primary (activities/roles.ts); the pods read it. */
  roles: string;
  secret: string;
  statefulSet: string;
  headlessService: string;
  primaryService: string;
  readOnlyService: string;
}

export function objectNames(name: string): ObjectNames {
  return {
    configMap: `${name}-config`,
    roles: `${name}-roles`,
    secret: `${name}-credentials`,
    statefulSet: name,
    headlessService: `${name}-headless`,
    primaryService: `${name}-primary`,
    readOnlyService: `${name}-ro`,
  };
}

/** The pod of a member, as the StatefulSet controller names it. */
export function podName(name: string, ordinal: number): string {
  return `${name}-${ordinal}`;
}

/**
 * The ordinal of `<database>-<ordinal>`, or undefined when `pod` names no member of it (a leading
 * zero, a sign or anything else: the names come from annotations and ConfigMaps people edit).
 */
export function memberOrdinal(database: string, pod: string): number | undefined {
  const prefix = `${database}-`;
  const rest = pod.startsWith(prefix) ? pod.slice(prefix.length) : '';
  return /^(0|[1-9][0-9]{0,2})$/.test(rest) ? Number(rest) : undefined;
}

/**
 * The stable DNS name of a member, through the headless Service (the StatefulSet's serviceName).
 * Without the cluster domain, so it resolves through the pod's search path whatever the domain.
 */
export function memberHost(m: { namespace: string; database: string; ordinal: number }): string {
  return `${podName(m.database, m.ordinal)}.${objectNames(m.database).headlessService}.${m.namespace}.svc`;
}

/** A Service's DNS name in the cluster, without the cluster domain (like memberHost). */
export function serviceHost(namespace: string, service: string): string {
  return `${service}.${namespace}.svc`;
}

/** The data volume claim of a member, as the StatefulSet controller names it (`<template>-<pod>`). */
export function dataClaimName(name: string, ordinal: number): string {
  return `${DATA_VOLUME}-${podName(name, ordinal)}`;
}

// The operator cannot discover the cluster's DNS domain from the API; nearly every cluster keeps
// the default, and status endpoints are a hint for users, not something the operator dials.
export const CLUSTER_DOMAIN = 'cluster.local';

export interface Endpoints {
  primary: string;
  readOnly: string;
}

/** Host names for `status.endpoints`; the port is `engineProfile(...).port`. */
export function endpointsFor(namespace: string, name: string): Endpoints {
  const names = objectNames(name);
  return {
    primary: `${names.primaryService}.${namespace}.svc.${CLUSTER_DOMAIN}`,
    readOnly: `${names.readOnlyService}.${namespace}.svc.${CLUSTER_DOMAIN}`,
  };
}

/** The database container; other code (exec, logs) refers to it by this name. */
export const CONTAINER_NAME = 'database';
/** Container and Service port name: Services target it by name, so the number lives in one place. */
export const PORT_NAME = 'db';
/** Volume claim template of the data volume; part of every PVC name, so it can never change. */
export const DATA_VOLUME = 'data';
export const CONFIG_VOLUME = 'config';
/** The volume of the role record (ObjectNames.roles) in the pods, and where it is mounted. */
export const ROLES_VOLUME = 'roles';
export const ROLES_MOUNT_PATH = '/etc/durable/roles';
/** Keys of the role record: the primary's pod name, and the member a failover is making primary. */
export const ROLE_KEYS = { primary: 'primary', targetPrimary: 'targetPrimary' } as const;
/** Pod-template annotation carrying `configHash`: a new value rolls the pods onto the new config. */
/**
 * The word in a PostgreSQL standby's standby.signal that asks its init container for a fresh
 * clone (activities/manifests/statefulset.ts); the operator writes it into a standby that diverged
 * from the primary's timeline (activities/rejoin.ts). PostgreSQL only checks that the file exists.
 */
export const RECLONE_MARK = 'reclone';

export const CONFIG_HASH_ANNOTATION = 'durable.dev/config-hash';

/** Keys of the credentials Secret; the pods, the engine activities and users read these. */
export const SECRET_KEYS = {
  username: 'username',
  password: 'password',
  replicationUsername: 'replication-username',
  replicationPassword: 'replication-password',
  engine: 'engine',
  host: 'host',
  port: 'port',
} as const;

/** The port each engine listens on, in its pods and behind the Services (any version). */
export const ENGINE_PORTS: Readonly<Record<Engine, number>> = { postgres: 5432, mariadb: 3306, mysql: 3306 };
