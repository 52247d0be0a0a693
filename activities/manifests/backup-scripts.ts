import type { Engine } from '../../crds';

/**
 * The shell scripts the backup, restore and delete-data Jobs run, in one place: the Job renderers
 * put them in `command: ['sh', '-c', script]`, and the engine-level test (test/engines/
 * dump-restore.test.ts) runs exactly these strings against local engines, changing only the
 * environment (host, port, paths). POSIX sh only: the official postgres, mariadb and mysql
 * images run them with their /bin/sh.
 *
 * Everything variable comes from the environment, never from the script text:
 * - DB_HOST, DB_PORT, DB_USER and the password (PGPASSWORD, or MYSQL_PWD, which the clients read
 *   themselves, from a secretKeyRef: the password is in no argument and no log);
 * - BACKUP_FILE: the dump, `<dir>/<backupName>.sql.gz`; BACKUP_LOCATION: how the status names it;
 * - TERMINATION_LOG: where the JSON result goes (the kubelet's /dev/termination-log by default).
 *
 * A backup writes `<file>.tmp` and renames it when complete, so a reader (restore, retention)
 * never sees a partial dump under the final name.
 */

/** Environment variable names the scripts read (the Job renderers and the engine test set them). */
export const SCRIPT_ENV = {
  host: 'DB_HOST',
  port: 'DB_PORT',
  user: 'DB_USER',
  file: 'BACKUP_FILE',
  location: 'BACKUP_LOCATION',
  terminationLog: 'TERMINATION_LOG',
  s3Url: 'S3_URL',
  s3Endpoint: 'S3_ENDPOINT',
} as const;

/** Password variable each engine's client reads by itself (MariaDB's clients read MYSQL_PWD too). */
export const PASSWORD_ENV: Record<Engine, string> = {
  postgres: 'PGPASSWORD',
  mariadb: 'MYSQL_PWD',
  mysql: 'MYSQL_PWD',
};

/**
 * The command-line client and dump tool of the MySQL family. The mariadb 11.x images have only
 * the `mariadb*` names (no mysql, mysqldump); 10.11 has both. MySQL has only the `mysql*` ones.
 */
export const MYSQL_FAMILY_TOOLS = {
  mariadb: { client: 'mariadb', dump: 'mariadb-dump' },
  mysql: { client: 'mysql', dump: 'mysqldump' },
} as const;

/** Every database but the system schemas. */
const USER_SCHEMAS_SQL =
  "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ('mysql','information_schema','performance_schema','sys') ORDER BY 1";
const DUMP_OPTIONS = '--single-transaction --routines --triggers --events --add-drop-database --databases';

/** Report helpers shared by every script: `fail` ends the Job with a readable termination message. */
const PRELUDE = `set -eu
umask 077
tlog="\${TERMINATION_LOG:-/dev/termination-log}"
errf="$(mktemp)"
fail() {
  # The message goes to the termination log (the operator copies it to the backup's status.error)
  # and to stderr (kubectl logs). It holds client output, never the password, which only the
  # clients read from their environment.
  msg="$1"
  if [ -s "$errf" ]; then msg="$msg: $(tail -c 1500 "$errf" | tr '\\n' ' ')"; fi
  printf '%s\\n' "$msg" >&2
  printf '%s' "$msg" | head -c 3500 > "$tlog" || true
  exit 1
}
`;

/**
 * Dumps of the user data: PostgreSQL, the \`postgres\` database (objects cleaned first) and every
 * other non-template database (with CREATE DATABASE); MySQL/MariaDB, every database but the
 * system schemas (never \`mysql\`: restoring it would replace the new Database's users and
 * passwords, which its credentials Secret holds). Roles and users are not part of the dump.
 */
const DUMP: Record<Engine, string> = {
  postgres: `dump() {
  conn="-h $DB_HOST -p $DB_PORT -U $DB_USER"
  dbs="$(psql $conn -d postgres -X -At -c "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY datname")" || return 1
  pg_dump $conn -d postgres --clean --if-exists --no-owner --no-privileges || return 1
  for db in $dbs; do
    pg_dump $conn -d "$db" --create --clean --if-exists --no-owner --no-privileges || return 1
  done
}`,
  mariadb: `dump() {
  conn="-h $DB_HOST -P $DB_PORT -u $DB_USER"
  dbs="$(${MYSQL_FAMILY_TOOLS.mariadb.client} $conn -N -B -e "${USER_SCHEMAS_SQL}")" || return 1
  [ -n "$dbs" ] || { echo '-- no user databases'; return 0; }
  # MariaDB writes no GTID statement a restore into another server would refuse.
  ${MYSQL_FAMILY_TOOLS.mariadb.dump} $conn ${DUMP_OPTIONS} $dbs
}`,
  mysql: `dump() {
  conn="-h $DB_HOST -P $DB_PORT -u $DB_USER"
  dbs="$(${MYSQL_FAMILY_TOOLS.mysql.client} $conn -N -B -e "${USER_SCHEMAS_SQL}")" || return 1
  [ -n "$dbs" ] || { echo '-- no user databases'; return 0; }
  # MySQL with GTIDs would otherwise write SET GTID_PURGED, which a restore into another server
  # refuses.
  ${MYSQL_FAMILY_TOOLS.mysql.dump} $conn --set-gtid-purged=OFF ${DUMP_OPTIONS} $dbs
}`,
};

const RESTORE_CLIENT: Record<Engine, string> = {
  postgres: 'psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -X -q -v ON_ERROR_STOP=1',
  mariadb: `${MYSQL_FAMILY_TOOLS.mariadb.client} -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER"`,
  mysql: `${MYSQL_FAMILY_TOOLS.mysql.client} -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER"`,
};

/**
 * Dumps the engine, gzipped, to BACKUP_FILE (atomically, through BACKUP_FILE.tmp) and reports
 * `{"sizeBytes": n, "location": "<BACKUP_LOCATION>"}` in the termination log.
 */
export function backupScript(engine: Engine): string {
  return `${PRELUDE}${DUMP[engine]}
file="$BACKUP_FILE"
tmp="$file.tmp"
trap 'rm -f "$tmp" "$errf"' EXIT
mkdir -p "$(dirname "$file")"
# POSIX sh has no pipefail: the dump's exit status comes back on fd 3 (\`if\` keeps set -e from
# ending the subshell before it is written).
rc="$( { { if dump 2>"$errf"; then echo 0 >&3; else echo $? >&3; fi; } | gzip -c > "$tmp"; } 3>&1 )"
[ "$rc" = 0 ] || fail "dump failed (exit $rc)"
[ -s "$tmp" ] || fail "dump is empty"
size="$(wc -c < "$tmp" | tr -d ' ')"
mv -f "$tmp" "$file"
printf '{"sizeBytes":%s,"location":"%s"}' "$size" "$BACKUP_LOCATION" > "$tlog"
echo "backup written: $BACKUP_LOCATION ($size bytes)"
`;
}

/** Pipes BACKUP_FILE (gzipped SQL) into the engine's client; stops at the first SQL error. */
export function restoreScript(engine: Engine): string {
  return `${PRELUDE}trap 'rm -f "$errf"' EXIT
[ -s "$BACKUP_FILE" ] || fail "backup file $BACKUP_LOCATION not found"
rc="$( { if { if gunzip -c "$BACKUP_FILE" 2>"$errf"; then echo 0 >&3; else echo $? >&3; fi; } | ${RESTORE_CLIENT[engine]} >/dev/null 2>>"$errf"; then echo client=0 >&3; else echo "client=$?" >&3; fi; } 3>&1 | tr '\\n' ' ')"
case "$rc" in
  "0 client=0 ") ;;
  *) fail "restore of $BACKUP_LOCATION failed ($rc)" ;;
esac
printf '{"location":"%s"}' "$BACKUP_LOCATION" > "$tlog"
echo "restored $BACKUP_LOCATION"
`;
}

/** Removes the dump of a backup (retention); a missing file is already deleted. */
export function deleteDataScript(): string {
  return `${PRELUDE}trap 'rm -f "$errf"' EXIT
rm -f "$BACKUP_FILE" "$BACKUP_FILE.tmp" 2>"$errf" || fail "cannot delete $BACKUP_LOCATION"
printf '{"location":"%s"}' "$BACKUP_LOCATION" > "$tlog"
echo "deleted $BACKUP_LOCATION"
`;
}

/**
 * S3: the dump is written to a scratch volume by the engine container (backupScript) and then
 * moved by the S3 client (aws-cli) container: `upload` after a backup, `download` before a
 * restore, `delete` for retention. S3_URL is `s3://bucket/key`; S3_ENDPOINT is optional (MinIO,
 * Ceph, …); the keys come from the credentials Secret as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
 */
export function s3Script(op: 'upload' | 'download' | 'delete'): string {
  const command = {
    upload: 's3 cp "$BACKUP_FILE" "$S3_URL"',
    download: 's3 cp "$S3_URL" "$BACKUP_FILE"',
    delete: 's3 rm "$S3_URL"',
  }[op];
  const report =
    op === 'upload'
      ? `size="$(wc -c < "$BACKUP_FILE" | tr -d ' ')"
printf '{"sizeBytes":%s,"location":"%s"}' "$size" "$S3_URL" > "$tlog"`
      : `printf '{"location":"%s"}' "$S3_URL" > "$tlog"`;
  return `${PRELUDE}trap 'rm -f "$errf"' EXIT
set -- ${command} --only-show-errors
if [ -n "\${S3_ENDPOINT:-}" ]; then set -- "$@" --endpoint-url "$S3_ENDPOINT"; fi
aws "$@" 2>"$errf" || fail "aws ${op} of $S3_URL failed"
${report}
echo "${op} $S3_URL done"
`;
}
