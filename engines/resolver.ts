import fs from 'node:fs';
import { engineProfile, memberHost as memberHostName } from '../activities/manifests';
import type { Engine } from '../crds';

/**
 * The one seam between a cluster and a local test bed: where the operator (and a replica told
 * where its source is) reaches a member's engine. In a cluster that is the member's stable DNS
 * name and the engine's port; on the local stack the members are local processes on free ports,
 * listed in a small JSON file. Nothing else differs.
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

export type EndpointResolver = (m: MemberAddress) => EngineEndpoint;

/** `<database>-<ordinal>.<database>-headless.<namespace>.svc`: the member's stable DNS name. */
export function memberHost(m: Pick<MemberAddress, 'namespace' | 'database' | 'ordinal'>): string {
  return memberHostName(m);
}

/** In a cluster: the member's DNS name and the engine's port. */
export function clusterResolver(): EndpointResolver {
  // The port does not depend on the version; any version string gives the same profile port.
  return (m) => ({ host: memberHost(m), port: engineProfile(m.engine, '0').port });
}

/**
 * For a local test bed or development: a JSON object `{ "<memberHost>": "<host>:<port>" }`,
 * re-read whenever its mtime changes (members come and go as a test scales). A member absent
 * from the map, or a map that does not exist yet, resolves as in a cluster, so the failure is a
 * plain DNS error naming the member rather than a silent wrong address.
 */
export function addressMapResolver(file: string): EndpointResolver {
  const fallback = clusterResolver();
  let loadedMtime = -1;
  let map = new Map<string, EngineEndpoint>();
  const load = () => {
    let mtime: number;
    try {
      mtime = fs.statSync(file).mtimeMs;
    } catch {
      map = new Map();
      loadedMtime = -1;
      return;
    }
    if (mtime === loadedMtime) return;
    try {
      map = parseAddressMap(fs.readFileSync(file, 'utf8'));
      loadedMtime = mtime;
    } catch {
      // Caught mid-write: keep the previous map and read it again next time.
    }
  };
  return (m) => {
    load();
    return map.get(memberHost(m)) ?? fallback(m);
  };
}

/** Parses the address map; throws on anything but `{ "<name>": "<host>:<port>" }`. */
export function parseAddressMap(text: string): Map<string, EngineEndpoint> {
  const raw: unknown = JSON.parse(text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('address map: expected a JSON object');
  }
  const map = new Map<string, EngineEndpoint>();
  for (const [name, value] of Object.entries(raw)) {
    const match = typeof value === 'string' ? /^(.+):(\d{1,5})$/.exec(value) : null;
    if (!match) throw new Error(`address map: ${name}: expected "<host>:<port>"`);
    map.set(name, { host: match[1]!, port: Number(match[2]) });
  }
  return map;
}
