#!/usr/bin/env bash
# Proves an image's contract for real, without Kubernetes or a container runtime: unpacks the
# image's layers from its docker-archive tarball (found through .images/index.json), then, in
# private mount, PID and network namespaces (so nothing it mounts or starts outlives it and its
# ports cannot clash with the host's), runs the image's own Entrypoint + Cmd with the image's Env
# under chroot as uid/gid 999 with no capabilities (a pod with runAsUser 999 and all capabilities
# dropped) on a read-only root, with writable tmpfs mounts only where a pod has volumes.
#
#   bash tools/images/verify.sh [--root] REF
#
# REF is one of the refs in index.json. Checks by image:
#   postgres:N       first start initializes PGDATA (the operator's layout: a subdirectory of the
#                    volume), psql over TCP with POSTGRES_PASSWORD reports PostgreSQL N, a wrong
#                    password is refused, pg_isready succeeds; SIGINT stops it; a second start
#                    skips initialization and serves the same data.
#   mariadb:S        same with MARIADB_ROOT_PASSWORD and a conf.d file setting datadir (as the
#                    operator's does), root@'%' over TCP, healthcheck.sh --connect
#                    --innodb_initialized, mariadb-admin ping, mysql* names only in 10.11; SIGTERM.
#   */postgres-never-ready, */mariadb-never-ready: the server serves SQL, its readiness checks fail.
#   */postgres-crashing: the entrypoint exits 1 at once.
#   amazon/aws-cli:V `aws --version` reports V; sh, coreutils, gzip, mktemp, … are there.
#   pause:3.10       /pause runs as 65535 and exits 0 on SIGTERM.
# --root starts the entrypoint as root instead (it must drop to uid 999 itself).
# Exits 0 when every check passed; prints `[verify] ok: …` / `[verify] FAIL: …` lines.
set -euo pipefail
shopt -s inherit_errexit

log() { printf '[verify] %s\n' "$*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Inside the namespaces: `verify.sh --inner ROOTFS REF AS_ROOT`.
if [ "${1:-}" = --inner ]; then
  rootfs=$2 ref=$3 as_root=$4
  ip link set lo up
  # A non-loopback address, as a client in another pod would connect to: the official images
  # trust loopback connections (postgres) or treat them apart (mariadb's root@localhost).
  ip link add verify0 type veth peer name verify1
  ip addr add 10.123.0.1/24 dev verify0
  ip link set verify0 up
  ip link set verify1 up
  addr=10.123.0.1
  # The root file system read-only, with /dev, a fresh /proc, and tmpfs where a pod has volumes.
  mount --bind "$rootfs" "$rootfs"
  mount --bind /dev "$rootfs/dev"
  mount -t proc proc "$rootfs/proc"
  volume() { # PATH MODE: a fresh volume as a pod with fsGroup 999 would see it
    mkdir -p "$rootfs$1"
    mount -t tmpfs -o "mode=$2,uid=0,gid=999,size=1g" tmpfs "$rootfs$1"
  }
  volume /tmp 1777
  case $ref in
    *postgres-crashing:*) ;;
    *postgres*) volume /var/lib/postgresql/data 2775 && volume /run/postgresql 2775 ;;
    *mariadb*) volume /var/lib/mysql 2775 && volume /run/mysqld 2775 ;;
  esac
  mount -o remount,bind,ro "$rootfs"
  touch "$rootfs/etc/verify-probe" 2>/dev/null && fail "the root file system is writable"
  env_args=()
  mapfile -t env_args <"$rootfs.env"
  mapfile -t entry <"$rootfs.entry"

  # run USER CMD...: CMD in the image as USER (999 without capabilities, or root), with the image's
  # Env plus extra VAR=value words given before CMD as `env` arguments.
  run() {
    local user=$1
    shift
    # With run_mode=exec (see start) the server's pid is that of the background job.
    if [ "$user" = root ]; then
      ${run_mode:-} chroot "$rootfs" /usr/bin/env -i "${env_args[@]}" HOME=/root "$@"
    else
      ${run_mode:-} chroot "$rootfs" /usr/bin/setpriv --reuid="$user" --regid="$user" --clear-groups --inh-caps=-all \
        --bounding-set=-all --no-new-privs -- /usr/bin/env -i "${env_args[@]}" HOME=/ "$@"
    fi
  }
  ok() { log "ok: $*"; }

  # start USER VAR=value...: starts the image's Entrypoint + Cmd in the background; sets $server.
  start() {
    local user=$1
    shift
    run_mode=exec run "$user" "$@" "${entry[@]}" >>"$rootfs.log" 2>&1 &
    server=$!
  }
  # stop SIGNAL: stops the server with the image's StopSignal; it must exit 0.
  stop() {
    kill -"$1" "$server"
    local rc=0
    wait "$server" || rc=$?
    [ $rc -eq 0 ] || fail "server exited $rc after SIG$1 (log: $rootfs.log)"
    ok "server stopped by SIG$1 with exit 0"
  }
  # until_ok SECONDS CMD...: retries CMD every half second while the server runs.
  until_ok() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
      kill -0 "$server" 2>/dev/null || {
        tail -n 20 "$rootfs.log" >&2
        fail "server exited before it accepted connections"
      }
      [ $SECONDS -lt $deadline ] || fail "no connection within the deadline (log: $rootfs.log)"
      sleep 0.5
    done
  }

  # restart_keeps_data SIGNAL TABLE QUERY_FN -- VAR=value...: writes a row, stops the server, starts
  # it again on the same data with VARs, and checks it skipped initialization and kept the row.
  restart_keeps_data() {
    local sig=$1 table=$2 query=$3
    shift 4
    "$query" "$pw" "CREATE TABLE $table (x int); INSERT INTO $table VALUES (42)" >/dev/null
    stop "$sig"
    start "$user" "$@"
    until_ok 60 "$query" "$pw"
    [ "$("$query" "$pw" "SELECT x FROM $table")" = 42 ] || fail "the data did not survive a restart"
    grep -q 'skipping initialization' "$rootfs.log" || fail "the second start did not skip initialization"
    ok "second start skipped initialization and kept the data"
    stop "$sig"
  }

  user=999
  [ "$as_root" = 1 ] && user=root
  pw='s3cret pa$$ "with" quotes'
  case $ref in
    *postgres-crashing:*)
      rc=0
      run 999 "${entry[@]}" >"$rootfs.log" 2>&1 || rc=$?
      [ $rc -eq 1 ] || fail "the crashing entrypoint exited $rc, not 1"
      grep -q 'exits 1 on purpose' "$rootfs.log" || fail "the crashing entrypoint printed nothing"
      ok "entrypoint exited 1 at once: $(head -n 1 "$rootfs.log")"
      ;;
    *postgres*)
      major=${ref##*:}
      major=${major%%.*}
      pgdata=/var/lib/postgresql/data/pgdata
      psql_tcp() { run 999 PGPASSWORD="$1" psql -h "$addr" -U postgres -d postgres -tAc "${2:-SELECT version()}"; }
      start "$user" POSTGRES_PASSWORD="$pw" PGDATA="$pgdata" POSTGRES_DB=app
      until_ok 120 psql_tcp "$pw"
      v=$(psql_tcp "$pw")
      [[ $v == "PostgreSQL $major."* ]] || fail "SELECT version() says '$v', not PostgreSQL $major"
      ok "psql over TCP with POSTGRES_PASSWORD: $v"
      [ "$(psql_tcp "$pw" "SELECT count(*) FROM pg_database WHERE datname = 'app'")" = 1 ] ||
        fail "POSTGRES_DB=app was not created"
      ok "POSTGRES_DB created"
      [ "$(psql_tcp "$pw" "SELECT count(*) FROM pg_roles WHERE rolname = 'initdb_ran'")" = 1 ] ||
        fail "/docker-entrypoint-initdb.d/10-init.sql.gz did not run"
      ok "/docker-entrypoint-initdb.d/*.sql.gz ran"
      ! psql_tcp wrong >/dev/null 2>&1 || fail "a wrong password was accepted"
      ok "a wrong password is refused (host auth $(psql_tcp "$pw" 'SHOW password_encryption'))"
      owner=$(stat -c %u "$rootfs$pgdata")
      [ "$owner" = 999 ] || fail "PGDATA is owned by $owner, not 999"
      ok "PGDATA $pgdata owned by 999"
      if [[ $ref == *never-ready* ]]; then
        ! run 999 pg_isready -h 127.0.0.1 -U postgres >/dev/null 2>&1 || fail "pg_isready succeeded"
        ! run 999 /usr/bin/pg_isready -h 127.0.0.1 >/dev/null 2>&1 || fail "/usr/bin/pg_isready succeeded"
        ok "pg_isready fails although the server serves SQL"
      else
        run 999 pg_isready -h 127.0.0.1 -U postgres >/dev/null || fail "pg_isready failed"
        ok "pg_isready succeeds"
        for tool in psql pg_dump pg_basebackup pg_isready pg_rewind initdb pg_ctl; do
          run 999 sh -c "command -v $tool" >/dev/null || fail "$tool is not on PATH"
        done
        ok "psql pg_dump pg_basebackup pg_isready pg_rewind on PATH"
      fi
      restart_keeps_data INT kept psql_tcp -- POSTGRES_PASSWORD=ignored-now PGDATA="$pgdata"
      ;;
    *mariadb*)
      series=${ref##*:}
      series=$(echo "$series" | cut -d. -f1-2)
      sql_tcp() {
        run 999 mariadb -h "$addr" -P 3306 --protocol=tcp -uroot --password="$1" -N -B \
          -e "${2:-SELECT version()}"
      }
      start "$user" MARIADB_ROOT_PASSWORD="$pw" MARIADB_DATABASE=app MARIADB_USER=appuser MARIADB_PASSWORD=apppw
      until_ok 120 sql_tcp "$pw"
      v=$(sql_tcp "$pw")
      [[ $v == "$series."* ]] || fail "SELECT version() says '$v', not $series"
      ok "mariadb over TCP as root@'%' with MARIADB_ROOT_PASSWORD: $v"
      [ -d "$rootfs/var/lib/mysql/data/mysql" ] || fail "the datadir of conf.d (/var/lib/mysql/data) was not used"
      ok "datadir from conf.d: /var/lib/mysql/data"
      run 999 mariadb -h "$addr" --protocol=tcp -uappuser -papppw app -N -e 'SELECT DATABASE()' >/dev/null ||
        fail "MARIADB_USER cannot use MARIADB_DATABASE"
      ok "MARIADB_DATABASE and MARIADB_USER created"
      [ "$(sql_tcp "$pw" "SELECT count(*) FROM mysql.user WHERE User = 'initdb_ran'")" = 1 ] ||
        fail "/docker-entrypoint-initdb.d/10-init.sql.gz did not run"
      ok "/docker-entrypoint-initdb.d/*.sql.gz ran"
      ! sql_tcp wrong >/dev/null 2>&1 || fail "a wrong password was accepted"
      ok "a wrong password is refused"
      if [[ $ref == *never-ready* ]]; then
        ! run 999 healthcheck.sh --connect --innodb_initialized 2>/dev/null || fail "healthcheck.sh succeeded"
        ! run 999 mariadb-admin ping -h 127.0.0.1 -uroot --password="$pw" 2>/dev/null || fail "mariadb-admin ping succeeded"
        ! run 999 mysqladmin ping -h 127.0.0.1 -uroot --password="$pw" 2>/dev/null || fail "mysqladmin ping succeeded"
        run 999 mariadb-admin -h 127.0.0.1 -uroot --password="$pw" status >/dev/null || fail "mariadb-admin status failed"
        ok "healthcheck.sh and mariadb-admin ping fail although the server serves SQL"
      else
        run 999 healthcheck.sh --connect --innodb_initialized || fail "healthcheck.sh --connect --innodb_initialized failed"
        ok "healthcheck.sh --connect --innodb_initialized succeeds"
        run 999 mariadb-admin ping -h 127.0.0.1 -uroot --password="$pw" >/dev/null || fail "mariadb-admin ping failed"
        ok "mariadb-admin ping succeeds"
      fi
      mysql_names=$(find "$rootfs/usr/bin" "$rootfs/usr/sbin" -maxdepth 1 -name 'mysql*' | wc -l)
      if [ "$series" = 10.11 ]; then
        [ "$mysql_names" -gt 0 ] || fail "10.11 should keep the mysql* names"
        run 999 MYSQL_PWD="$pw" mysqladmin ping -h 127.0.0.1 -uroot >/dev/null 2>&1 || [[ $ref == *never-ready* ]] ||
          fail "mysqladmin ping failed"
        ok "mysql* command names present ($mysql_names)"
      else
        [ "$mysql_names" = 0 ] || fail "MariaDB $series should have no mysql* command names"
        ok "no mysql* command names"
      fi
      restart_keeps_data TERM app.kept sql_tcp -- MARIADB_ROOT_PASSWORD=ignored-now
      ;;
    *aws-cli*)
      want=${ref##*:}
      v=$(run 999 "${entry[@]}" --version 2>&1)
      [[ $v == "aws-cli/$want "* ]] || fail "aws --version says '$v', not aws-cli/$want"
      ok "Entrypoint --version as 999: $v"
      run 999 sh -c 'for t in sh mktemp tail tr head wc gzip gunzip cat date sleep; do command -v $t >/dev/null || { echo "missing $t"; exit 1; }; done; f=$(mktemp) && echo hi | gzip | gunzip >"$f" && [ "$(wc -l <"$f")" = 1 ]' ||
        fail "a tool the backup scripts use is missing"
      ok "sh, coreutils, gzip, mktemp, tail, tr, head, wc work"
      ;;
    *pause*)
      # No setpriv or env in this image: chroot changes the user itself (capabilities go with uid 0).
      env -i "$(command -v chroot)" --userspec=65535:65535 "$rootfs" "${entry[@]}" >>"$rootfs.log" 2>&1 &
      server=$!
      sleep 1
      kill -0 "$server" || fail "/pause exited by itself"
      uid=$(awk '/^Uid:/ { print $2 }' "$rootfs/proc/$server/status")
      [ "$uid" = 65535 ] || fail "/pause runs as uid $uid, not 65535"
      ok "/pause runs as 65535"
      stop TERM
      ;;
    *) fail "no check for $ref" ;;
  esac
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Outside: find the image, unpack its layers, run the checks inside fresh namespaces.
as_root=0
[ "${1:-}" = --root ] && as_root=1 && shift
ref=${1:?usage: verify.sh [--root] REF}
[ "$(id -u)" = 0 ] || fail "needs root (unshare, chroot, mount)"
root=$(cd "$(dirname "$0")/../.." && pwd)
index=${DURABLE_IMAGES_DIR:-$root/.images}/index.json
[ -f "$index" ] || fail "$index is missing: run bash tools/build-images.sh"

# The image's tarball, layers, Env and Entrypoint + Cmd, read with node (no npm package needed).
work=$(mktemp -d /tmp/verify-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"
node - "$index" "$ref" "$work" <<'EOF'
const fs = require('fs');
const { execFileSync } = require('child_process');
const [index, ref, work] = process.argv.slice(2);
const archive = JSON.parse(fs.readFileSync(index, 'utf8')).find((a) => a.refs.includes(ref));
if (!archive) throw new Error(`${ref} is not in ${index}`);
const read = (name) => execFileSync('tar', ['-xOf', archive.file, name], { maxBuffer: 1 << 24 }).toString();
const manifest = JSON.parse(read('manifest.json')).find((m) => m.RepoTags.includes(ref));
const config = JSON.parse(read(manifest.Config)).config;
fs.writeFileSync(`${work}/layers`, [archive.file, ...manifest.Layers].join('\n') + '\n');
fs.writeFileSync(`${work}/rootfs.env`, (config.Env ?? []).join('\n') + '\n');
fs.writeFileSync(`${work}/rootfs.entry`, [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])].join('\n') + '\n');
EOF
mapfile -t layers <"$work/layers"
file=${layers[0]}
log "$ref: unpacking $((${#layers[@]} - 1)) layer(s) of $(basename "$file")"
for layer in "${layers[@]:1}"; do
  tar -xOf "$file" "$layer" | tar -x --numeric-owner -C "$rootfs"
done
mkdir -p "$rootfs/dev" "$rootfs/proc" "$rootfs/tmp"
# An init script, compressed, run once by the first start.
case $ref in
  *postgres*) echo 'CREATE ROLE initdb_ran;' | gzip -n >"$rootfs/docker-entrypoint-initdb.d/10-init.sql.gz" ;;
  *mariadb*) echo "CREATE USER initdb_ran@localhost;" | gzip -n >"$rootfs/docker-entrypoint-initdb.d/10-init.sql.gz" ;;
esac
case $ref in
  *mariadb*)
    # The operator's config file (a ConfigMap in a pod): datadir in a subdirectory of the volume.
    printf '[mysqld]\ndatadir=/var/lib/mysql/data\nbind_address=0.0.0.0\nport=3306\nlog_bin=binlog\n' \
      >"$rootfs/etc/mysql/conf.d/my.cnf"
    ;;
esac
log "$ref: running the checks as $([ $as_root = 1 ] && echo root || echo 'uid 999, no capabilities'), read-only root"
started=$SECONDS
rc=0
# --kill-child: if this script is stopped (or times out), the whole PID namespace goes with it.
timeout --kill-after=10 "${VERIFY_TIMEOUT:-600}" unshare --mount --pid --net --fork --kill-child=SIGKILL --propagation private -- \
  bash "$0" --inner "$rootfs" "$ref" "$as_root" || rc=$?
if [ $rc -ne 0 ]; then
  log "$ref: server log:"
  tail -n 40 "$rootfs.log" >&2 2>/dev/null || :
  fail "$ref ($((SECONDS - started)) s)"
fi
log "$ref: all checks passed ($((SECONDS - started)) s)"
