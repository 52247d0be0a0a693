import { parseDatabaseSpec, unknownEngine, type DatabaseSpec } from './database';

/**
 * Rules a spec must satisfy beyond the schema: what the API server cannot know (supported engine
 * versions) or cannot compare (the version that actually runs). Pure, so the workflow checks them
 * deterministically and the unit tests need no cluster.
 */
export interface Verdict {
  ok: boolean;
  reason?: string;
  message?: string;
}

/**
 * Major versions the operator knows how to run (official images postgres:<v>, mariadb:<v>,
 * mysql:<v>). MariaDB: the long-term releases 10.11, 11.4 and 11.8.
 */
export const SUPPORTED_MAJORS: Record<DatabaseSpec['engine'], readonly string[]> = {
  postgres: ['13', '14', '15', '16', '17'],
  mariadb: ['10.11', '11.4', '11.8'],
  mysql: ['8.0', '8.4'],
};

export function majorOf(engine: DatabaseSpec['engine'], version: string): string {
  const parts = version.split('.');
  switch (engine) {
    // PostgreSQL majors are one number since 10.
    case 'postgres':
      return parts[0]!;
    // MariaDB's and MySQL's are two (10.11, 11.8; 8.0, 8.4).
    case 'mariadb':
    case 'mysql':
      return parts.slice(0, 2).join('.');
    default:
      return unknownEngine(engine);
  }
}

/**
 * Whether a new major can run on the old one's data directory: MariaDB and MySQL upgrade their
 * data files in place (the server itself at start, or mariadb-upgrade); PostgreSQL cannot.
 */
export function majorUpgradeInPlace(engine: DatabaseSpec['engine']): boolean {
  switch (engine) {
    case 'postgres':
      return false;
    case 'mariadb':
    case 'mysql':
      return true;
    default:
      return unknownEngine(engine);
  }
}

/**
 * Whether the version an engine reports (`SELECT VERSION()`: `17.6 (Debian 17.6-1.pgdg12+1)`,
 * `11.8.3-MariaDB-0+deb13u1`, `8.4.2`) is the version the spec asks for: the spec's dotted
 * version is a prefix of the reported one (`11.8` matches `11.8.3`, not `11.80.1`). With
 * spec.image the build is the user's choice; then only the major must match.
 */
export function reportedVersionMatches(
  spec: Pick<DatabaseSpec, 'engine' | 'version' | 'image'>,
  reported: string,
): boolean {
  const numeric = /^\d+(\.\d+)*/.exec(reported.trim())?.[0];
  if (!numeric) return false;
  const wanted = spec.image ? majorOf(spec.engine, spec.version) : spec.version;
  const want = wanted.split('.');
  const got = numeric.split('.');
  return want.every((part, i) => got[i] !== undefined && Number(got[i]) === Number(part));
}

/** Compares dotted versions numerically; a missing part counts as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * @param spec the requested spec, as signalled
 * @param runningVersion the version currently deployed (status.currentVersion), if any
 */
export function checkSpec(spec: unknown, runningVersion?: string): Verdict & { spec?: DatabaseSpec } {
  const parsed = parseDatabaseSpec(spec);
  if (!parsed.ok) return { ok: false, reason: 'InvalidSpec', message: parsed.message };
  const s = parsed.spec;
  const major = majorOf(s.engine, s.version);
  if (!s.image && !SUPPORTED_MAJORS[s.engine].includes(major)) {
    return {
      ok: false,
      reason: 'UnsupportedVersion',
      message: `${s.engine} ${s.version} is not supported: use one of ${SUPPORTED_MAJORS[s.engine].join(', ')} (or set spec.image to run another build)`,
    };
  }
  // spec.bootstrap.fromBackup is checked where the backup can be read (checkRestoreSource):
  // it must exist, have Succeeded and be of this engine; the Restored condition tells why not.
  if (runningVersion && runningVersion !== s.version) {
    if (compareVersions(s.version, runningVersion) < 0) {
      return {
        ok: false,
        reason: 'DowngradeNotAllowed',
        message: `cannot downgrade ${s.engine} from ${runningVersion} to ${s.version}: restore a backup into a new Database instead`,
      };
    }
    if (
      majorOf(s.engine, s.version) !== majorOf(s.engine, runningVersion) &&
      !majorUpgradeInPlace(s.engine)
    ) {
      return {
        ok: false,
        reason: 'MajorUpgradeNotAllowed',
        message: `PostgreSQL ${runningVersion} → ${s.version} is a major version change, which cannot be done in place (the data directory format differs): restore a backup into a new Database`,
      };
    }
  }
  return { ok: true, spec: s };
}
