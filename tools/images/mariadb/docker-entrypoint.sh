#!/usr/bin/env bash
# Entrypoint of the local `mariadb` image (Debian's mariadb-server). Our own implementation of the
# documented contract of the official Docker Hub `mariadb` image, not a copy of its script:
#   MARIADB_ROOT_PASSWORD[_FILE] (alias MYSQL_ROOT_PASSWORD[_FILE]), MARIADB_ALLOW_EMPTY_ROOT_PASSWORD,
#   MARIADB_RANDOM_ROOT_PASSWORD, MARIADB_ROOT_HOST (default %), MARIADB_DATABASE, MARIADB_USER,
#   MARIADB_PASSWORD[_FILE] (each with its MYSQL_* alias), MARIADB_AUTO_UPGRADE,
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz|*.sql.zst run once on a fresh datadir.
# The data directory and socket are those mariadbd itself reports for the given options and config
# files (`mariadbd --verbose --help`), so a datadir set in /etc/mysql/conf.d is honoured.
# Arguments starting with `-` get `mariadbd` prepended. Started as root it prepares the
# directories and re-executes itself as `mysql` (uid 999); started as uid 999 directly it writes
# only the data directory, /run/mysqld and /tmp.
set -Eeuo pipefail
# shellcheck source=../common/initdb-scripts.sh
. /usr/local/lib/durable-images/initdb-scripts.sh

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S')" "$*"; }
die() {
  printf '%s\n' "$@" >&2
  exit 1
}

# file_env NAME [DEFAULT]: MARIADB_x, else its alias MYSQL_x, else the file MARIADB_x_FILE or
# MYSQL_x_FILE names, else DEFAULT. Exports MARIADB_x.
file_env() {
  local name=$1 default=${2:-} alias=MYSQL_${1#MARIADB_}
  local value=${!name:-${!alias:-}}
  local file_name="${name}_FILE" alias_file="${alias}_FILE"
  local file=${!file_name:-${!alias_file:-}}
  if [ -n "$value" ] && [ -n "$file" ]; then
    die "error: both $name and ${name}_FILE (or their MYSQL_ aliases) are set; they are exclusive"
  fi
  if [ -n "$file" ]; then
    value=$(<"$file")
  elif [ -z "$value" ]; then
    value=$default
  fi
  export "$name=$value"
  unset "$file_name" "$alias_file"
}

only_info() {
  local arg
  for arg; do
    case $arg in
      -'?' | --help | --print-defaults | -V | --version) return 0 ;;
    esac
  done
  return 1
}

# server_help ARGS...: what mariadbd reports for these arguments and its config files, values
# included; fails when it rejects them. --log-bin-index keeps it off the real binlog index.
server_help() { "$@" --verbose --help --log-bin-index="$(mktemp -u)" 2>&1; }
# server_option NAME: the value of NAME in $server_help_text.
# Only the table after "Variables (--variable-name=value)": the option descriptions above it
# wrap, and a wrapped line may start with an option's name.
server_option() {
  awk -v n="$1" '/^Variables \(--variable-name=value\)/ { t = 1; next } t && $1 == n { print $2; exit }' \
    <<<"$server_help_text"
}

sql_string() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}
sql_ident() { printf '`%s`' "${1//\`/\`\`}"; }

# The temporary server listens on the socket only; the client authenticates with a defaults file
# in /tmp so that no password shows on a command line.
client_cnf=
temp_client() {
  mariadb --defaults-extra-file="$client_cnf" --protocol=socket --socket="$SOCKET" -uroot "$@"
}

temp_server_start() {
  log "starting a temporary server (no networking)"
  "$@" --skip-networking --socket="$SOCKET" --wsrep-on=OFF --skip-slave-start --expire-logs-days=0 \
    --loose-innodb-buffer-pool-load-at-startup=0 --loose-innodb-buffer-pool-dump-at-shutdown=0 &
  temp_pid=$!
  local i
  for i in $(seq 1 120); do
    if temp_client -e 'SELECT 1' >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$temp_pid" 2>/dev/null || die "error: the temporary server exited during start-up"
    sleep 0.5
  done
  die "error: the temporary server did not accept connections within 60 s"
}

temp_server_stop() {
  kill -TERM "$temp_pid"
  wait "$temp_pid" || die "error: the temporary server did not shut down cleanly"
  log "temporary server stopped"
}

write_client_cnf() {
  client_cnf=$(mktemp /tmp/entrypoint-client.XXXXXX)
  chmod 0600 "$client_cnf"
  # An option file value in double quotes takes backslash escapes.
  local pw=${1//\\/\\\\}
  printf '[client]\nuser=root\npassword="%s"\n' "${pw//\"/\\\"}" >"$client_cnf"
}

first_start() {
  file_env MARIADB_ROOT_PASSWORD
  file_env MARIADB_ROOT_HOST %
  file_env MARIADB_DATABASE
  file_env MARIADB_USER
  file_env MARIADB_PASSWORD
  file_env MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
  file_env MARIADB_RANDOM_ROOT_PASSWORD
  if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] &&
    [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    die 'error: the data directory is empty and no root password option is given.' \
      '       Set one of MARIADB_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD, or a *_FILE variant),' \
      '       MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD.'
  fi
  if [ -n "$MARIADB_USER" ] && [ "$MARIADB_USER" = root ]; then
    die 'error: MARIADB_USER=root is not allowed: set MARIADB_ROOT_PASSWORD for the root user'
  fi
  if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
    MARIADB_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    log "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
  fi

  log "initializing the data directory $DATADIR"
  mkdir -p "$DATADIR"
  mariadb-install-db "${@:2}" --datadir="$DATADIR" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve --skip-log-bin --expire-logs-days=0 --cross-bootstrap \
    --loose-innodb-buffer-pool-dump-at-shutdown=0 --loose-innodb-buffer-pool-load-at-startup=0 \
    >/dev/null
  log "data directory initialized"

  write_client_cnf ''
  temp_server_start "$@"

  local pw sql healthcheck_pw
  pw=$(sql_string "$MARIADB_ROOT_PASSWORD")
  healthcheck_pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  # Written to the log of no replica: the setup is not binlogged.
  sql="SET @@SESSION.SQL_LOG_BIN=0;
SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;
CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$healthcheck_pw';
CREATE USER 'healthcheck'@'::1' IDENTIFIED BY '$healthcheck_pw';
CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$healthcheck_pw';
GRANT USAGE ON *.* TO 'healthcheck'@'127.0.0.1', 'healthcheck'@'::1', 'healthcheck'@'localhost';"
  if [ "$MARIADB_ROOT_HOST" != localhost ]; then
    local host
    host=$(sql_string "$MARIADB_ROOT_HOST")
    sql+="
CREATE USER 'root'@$host IDENTIFIED BY $pw;
GRANT ALL ON *.* TO 'root'@$host WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@$host WITH GRANT OPTION;"
  fi
  if [ -n "$MARIADB_DATABASE" ]; then
    log "creating database $MARIADB_DATABASE"
    sql+="
CREATE DATABASE IF NOT EXISTS $(sql_ident "$MARIADB_DATABASE");"
  fi
  if [ -n "$MARIADB_USER" ] && [ -n "$MARIADB_PASSWORD" ]; then
    log "creating user $MARIADB_USER"
    sql+="
CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
    [ -n "$MARIADB_DATABASE" ] && sql+="
GRANT ALL ON $(sql_ident "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
  fi
  temp_client <<<"$sql"
  # The credentials healthcheck.sh uses; the port and socket are the server's.
  printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\n' \
    "$(server_option port)" "$SOCKET" "$healthcheck_pw" >"$DATADIR/.my-healthcheck.cnf"
  chmod 0600 "$DATADIR/.my-healthcheck.cnf"

  write_client_cnf "$MARIADB_ROOT_PASSWORD"
  local db=()
  [ -n "$MARIADB_DATABASE" ] && db=(--database="$MARIADB_DATABASE")
  run_init_scripts temp_client "${db[@]}"
  temp_server_stop
  rm -f "$client_cnf"
  log "init complete; starting the server"
}

# The version recorded in the datadir by the last mariadb-upgrade (or install), e.g. 10.11.19.
datadir_version() {
  local f
  for f in "$DATADIR/mariadb_upgrade_info" "$DATADIR/mysql_upgrade_info"; do
    [ -s "$f" ] && { tr -d '\0' <"$f" | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+' || :; } && return
  done
}

maybe_upgrade() {
  local server have
  server=$("$1" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)
  have=$(datadir_version)
  [ -n "$have" ] && [ "$have" = "$server" ] && return 0
  if [ -z "${MARIADB_AUTO_UPGRADE:-}" ]; then
    log "note: the data directory is from MariaDB ${have:-unknown}, the server is $server;" \
      "set MARIADB_AUTO_UPGRADE=1 to run mariadb-upgrade at start"
    return 0
  fi
  log "upgrading the system tables from ${have:-unknown} to $server"
  write_client_cnf ''
  temp_server_start "$@" --skip-grant-tables
  mariadb-upgrade --defaults-extra-file="$client_cnf" --protocol=socket --socket="$SOCKET" \
    --upgrade-system-tables --silent
  temp_server_stop
  rm -f "$client_cnf"
}

if [ "${1:0:1}" = - ]; then
  set -- mariadbd "$@"
fi

if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! only_info "$@"; then
  if ! server_help_text=$(server_help "$@"); then
    printf '%s\n' "$server_help_text" | grep -v '^  ' | tail -n 20 >&2
    die "error: mariadbd rejects its configuration (see above)"
  fi
  DATADIR=$(server_option datadir)
  DATADIR=${DATADIR%/}
  SOCKET=$(server_option socket)
  [ -n "$DATADIR" ] && [ -n "$SOCKET" ] || die "error: mariadbd reports no datadir or socket"
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
    chown mysql:mysql "$DATADIR" "$(dirname "$SOCKET")"
    exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
  if [ -d "$DATADIR/mysql" ]; then
    log "$DATADIR holds a database; skipping initialization"
    maybe_upgrade "$@"
  else
    first_start "$@"
  fi
fi

exec "$@"
