import { Resolver } from 'node:dns/promises';
import { ENGINE_PORTS, memberHost as memberHostName } from '../contracts/names';
import type { Engine } from '../crds';

/**
 * Where the operator (and a replica told where its source is) reaches a member's engine: the
 * member's stable DNS name and the engine's port. In a pod of the cluster the name resolves
 * through the pod's resolv.conf as it is. A worker outside the cluster (on the local stack's
 * machine, say) names the cluster's DNS server with CLUSTER_DNS (`ip[:port]`), and the member's
 * name is resolved there: the one setting in which a worker off the cluster differs.
 */
export interface EngineEndpoint {
  host: string;
  port: number;
}

export interface MemberAddress {
  namespace: string;
  database: string;
  ordinal: number;
  engine: Engine;
}

export type EndpointResolver = (m: MemberAddress) => Promise<EngineEndpoint>;

/** `<database>-<ordinal>.<database>-headless.<namespace>.svc`: the member's stable DNS name. */
export function memberHost(m: Pick<MemberAddress, 'namespace' | 'database' | 'ordinal'>): string {
  return memberHostName(m);
}

function enginePort(engine: Engine): number {
  return ENGINE_PORTS[engine];
}

/** In a cluster: the member's DNS name and the engine's port, resolved by the client. */
export function clusterResolver(): EndpointResolver {
  return (m) => Promise.resolve({ host: memberHost(m), port: enginePort(m.engine) });
}

/**
 * Off the cluster: resolves the member's name at the cluster's DNS server `server` (`ip` or
 * `ip:port`) and dials the address it answers. Names are fully qualified with the cluster domain,
 * since a machine's resolver has no cluster search path. A name the server does not know fails
 * with the DNS error naming the member (ENOTFOUND), as it would in a pod.
 */
export function clusterDnsResolver(server: string, clusterDomain = 'cluster.local'): EndpointResolver {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([server]);
  return async (m) => {
    const name = memberHost(m);
    const fqdn = name.endsWith('.svc') ? `${name}.${clusterDomain}` : name;
    let addresses: string[];
    try {
      addresses = await resolver.resolve4(fqdn);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ESERVFAIL';
      throw Object.assign(new Error(`cannot resolve ${name} at the cluster DNS ${server}: ${code}`), {
        code,
      });
    }
    return { host: addresses[0]!, port: enginePort(m.engine) };
  };
}
