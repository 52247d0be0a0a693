import type { EngineCredentials } from './credentials';
import type { EngineEndpoint } from './resolver';

export type MemberRole = 'primary' | 'replica';

/** One member as the engines see it; holds no secret. */
export interface MemberState {
  ordinal: number;
  role: MemberRole;
  /** Short, stable wording (it lands in status): `writable`, `streaming`, `catchup`, … */
  state: string;
  /** A replica receives and applies the primary's changes; always true for the primary. */
  streaming: boolean;
}

/** What one pass of replication configuration found and did. */
export interface ReplicationOutcome {
  members: MemberState[];
  /** Things still in the way of a ready replication, in words (e.g. a departing replica's slot). */
  pending: string[];
  /** What this pass changed: role or user created, slots created, replicas (re)configured. */
  changes: string[];
  /** Replicas removed by this pass (slots of members scaled away). */
  removed: string[];
}

export interface MemberHealth {
  role: MemberRole;
  serverVersion: string;
  /** For a replica: whether it is receiving from the primary. */
  replicating?: boolean;
  detail: string;
}

/** A member reachable at `endpoint`, as the engine functions take it. */
export interface EngineMember {
  ordinal: number;
  endpoint: EngineEndpoint;
  /**
   * Set when the member could not even be addressed (its name does not resolve: the pod is not
   * there yet): it is reported unreachable with this reason and never dialled.
   */
  unreachable?: string;
}

export interface ReplicationInput {
  /** Ordinal of the primary (the role record's). */
  primaryOrdinal: number;
  /** The primary, as the operator reaches it. */
  primary: EngineEndpoint;
  /** The primary, as the replicas reach it (a cluster: its DNS name; locally: the same address). */
  source: EngineEndpoint;
  /** Wanted member count (spec.replicas); the members 0..replicas-1 but the primary are replicas. */
  replicas: number;
  /** The replicas as the operator reaches them. */
  replicaMembers: EngineMember[];
  /**
   * spec.replication.synchronous, with the standbys' names (their pod names, which each standby
   * reports as its application_name). PostgreSQL only.
   */
  synchronous?: {
    number: number;
    dataDurability: 'required' | 'preferred';
    standbys: { ordinal: number; name: string }[];
  };
  credentials: EngineCredentials;
}
