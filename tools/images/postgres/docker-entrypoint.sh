#!/usr/bin/env bash
# Entrypoint of the local `postgres` image (Debian's postgresql-N). Our own implementation of the
# documented contract of the official Docker Hub `postgres` image, not a copy of its script:
#   POSTGRES_PASSWORD[_FILE], POSTGRES_USER[_FILE] (default postgres), POSTGRES_DB[_FILE]
#   (default $POSTGRES_USER), POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR,
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA (default /var/lib/postgresql/data),
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz|*.sql.zst run once on a fresh PGDATA.
# Arguments starting with `-` get `postgres` prepended. Started as root it prepares the
# directories and re-executes itself as `postgres` (uid 999) with setpriv; started as uid 999
# directly (runAsUser 999, no capabilities) it does the same work without chown.
set -Eeuo pipefail
# shellcheck source=../common/initdb-scripts.sh
. /usr/local/lib/durable-images/initdb-scripts.sh

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*"; }
die() {
  printf '%s\n' "$@" >&2
  exit 1
}

# file_env NAME [DEFAULT]: NAME from the environment, or the contents of the file NAME_FILE names.
file_env() {
  local name=$1 file_name="${1}_FILE" default=${2:-}
  local value=${!name:-} file=${!file_name:-}
  if [ -n "$value" ] && [ -n "$file" ]; then
    die "error: both $name and $file_name are set; they are exclusive"
  fi
  if [ -n "$file" ]; then
    value=$(<"$file")
  elif [ -z "$value" ]; then
    value=$default
  fi
  export "$name=$value"
  unset "$file_name"
}

# True when the arguments ask postgres for information instead of running a server.
only_info() {
  local arg
  for arg; do
    case $arg in
      -'?' | --help | --describe-config | -V | --version | -C | -C*) return 0 ;;
    esac
  done
  return 1
}

prepare_dirs() {
  local uid
  uid=$(id -u)
  mkdir -p "$PGDATA"
  [ "$uid" = 0 ] && chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA" 2>/dev/null || :
  mkdir -p /var/run/postgresql
  if [ "$uid" = 0 ]; then
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
  fi
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    [ "$uid" = 0 ] && chown postgres:postgres "$POSTGRES_INITDB_WALDIR"
    chmod 0700 "$POSTGRES_INITDB_WALDIR" 2>/dev/null || :
  fi
}

require_password() {
  if [ -n "$POSTGRES_PASSWORD" ]; then
    if [ "${#POSTGRES_PASSWORD}" -gt 100 ]; then
      log "warning: POSTGRES_PASSWORD is longer than 100 characters; some clients truncate it"
    fi
    return
  fi
  [ "$POSTGRES_HOST_AUTH_METHOD" = trust ] && {
    log "warning: POSTGRES_HOST_AUTH_METHOD=trust: every host connection is accepted without a password"
    return
  }
  die 'error: the data directory is empty and no superuser password is given.' \
    '       Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value, or set' \
    '       POSTGRES_HOST_AUTH_METHOD=trust to accept connections without any password' \
    '       (not recommended: see "trust" in the PostgreSQL documentation).'
}

init_cluster() {
  # The password reaches initdb in a private file (not /dev/fd: a bare chroot may lack it).
  local pwfile
  pwfile=$(umask 077 && mktemp "${TMPDIR:-/tmp}/initdb-pwfile.XXXXXX")
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  local -a args=(--username="$POSTGRES_USER" --pwfile="$pwfile")
  [ -n "${POSTGRES_INITDB_WALDIR:-}" ] && args+=(--waldir="$POSTGRES_INITDB_WALDIR")
  # POSTGRES_INITDB_ARGS is a list of words, as with the official image.
  # shellcheck disable=SC2086
  initdb "${args[@]}" ${POSTGRES_INITDB_ARGS:-} || {
    rm -f "$pwfile"
    return 1
  }
  rm -f "$pwfile"
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
}

# psql against the temporary server, over the Unix socket only.
temp_psql() {
  PGHOST=/var/run/postgresql PGPORT=${PGPORT:-5432} PGUSER=$POSTGRES_USER PGPASSWORD=$POSTGRES_PASSWORD \
    psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc "$@"
}

first_start() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  require_password
  log "initializing a new cluster in $PGDATA"
  init_cluster
  # The temporary server takes the same options as the real one (a config_file, say), but listens
  # on the Unix socket only.
  log "starting a temporary server on the Unix socket"
  pg_ctl -D "$PGDATA" -w -t 120 -o "$(printf '%q ' "$@" -c "listen_addresses=" -p "${PGPORT:-5432}")" start
  if [ "$POSTGRES_DB" != postgres ] &&
    [ -z "$(temp_psql --dbname postgres -tA --set db="$POSTGRES_DB" \
      <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")" ]; then
    log "creating database $POSTGRES_DB"
    temp_psql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  run_init_scripts temp_psql --dbname "$POSTGRES_DB"
  pg_ctl -D "$PGDATA" -m fast -w -t 120 stop
  log "init complete; starting the server"
}

if [ "${1:0:1}" = - ]; then
  set -- postgres "$@"
fi

if [ "$1" = postgres ] && ! only_info "$@"; then
  : "${PGDATA:=/var/lib/postgresql/data}"
  export PGDATA
  prepare_dirs
  if [ "$(id -u)" = 0 ]; then
    export HOME=/var/lib/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
  if [ -s "$PGDATA/PG_VERSION" ]; then
    log "$PGDATA holds a cluster (PostgreSQL $(<"$PGDATA/PG_VERSION")); skipping initialization"
  else
    first_start "${@:2}"
  fi
fi

exec "$@"
