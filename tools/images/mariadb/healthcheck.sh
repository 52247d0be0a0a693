#!/usr/bin/env bash
# healthcheck.sh of the local `mariadb` image: our own implementation of the part of the official
# image's healthcheck contract the operator may use. Each test named on the command line runs in
# order; the first that fails makes the script exit 1.
#   --connect                    the server accepts TCP connections on localhost (an access
#                                error still counts as connected, as upstream)
#   --innodb_initialized         InnoDB is up
#   --innodb_buffer_pool_loaded  the buffer pool load at start-up has finished
#   --mariadbupgrade             the datadir was upgraded to this server's version
# Options: --defaults-file=F, --defaults-extra-file=F (default: <datadir>/.my-healthcheck.cnf,
# written by the entrypoint), --no-defaults, --datadir=D, --su-mysql (accepted, ignored).
set -uo pipefail

datadir= defaults=() extra= tests=()
for arg; do
  case $arg in
    --connect | --innodb_initialized | --innodb_buffer_pool_loaded | --mariadbupgrade) tests+=("${arg#--}") ;;
    --defaults-file=*) defaults=("$arg") ;;
    --defaults-extra-file=*) extra=${arg#*=} ;;
    --no-defaults) defaults=(--no-defaults) ;;
    --datadir=*) datadir=${arg#*=} ;;
    --su-mysql | --su=*) ;;
    *)
      echo "healthcheck.sh: unknown option $arg" >&2
      exit 1
      ;;
  esac
done
[ ${#tests[@]} -gt 0 ] || {
  echo "healthcheck.sh: name at least one test (--connect, --innodb_initialized, ...)" >&2
  exit 1
}

if [ -z "$datadir" ]; then
  help=$(mariadbd --verbose --help --log-bin-index="$(mktemp -u)" 2>/dev/null)
  datadir=$(awk '/^Variables \(--variable-name=value\)/ { t = 1; next } t && $1 == "datadir" { print $2; exit }' <<<"$help")
fi
if [ -z "$extra" ] && [ ${#defaults[@]} -eq 0 ] && [ -r "${datadir%/}/.my-healthcheck.cnf" ]; then
  extra=${datadir%/}/.my-healthcheck.cnf
fi
client=(mariadb "${defaults[@]}" ${extra:+--defaults-extra-file="$extra"} -h localhost --protocol=tcp --skip-column-names --batch)

query() { "${client[@]}" -e "$1" 2>&1; }

check() {
  local out
  case $1 in
    connect)
      out=$(query 'SELECT 1') && return 0
      case $out in *"Can't connect"*) echo "$out" >&2 && return 1 ;; esac
      return 0
      ;;
    innodb_initialized)
      out=$(query "SELECT 1 FROM information_schema.ENGINES WHERE engine = 'InnoDB' AND support IN ('YES', 'DEFAULT', 'ENABLED')")
      [ "$out" = 1 ]
      ;;
    innodb_buffer_pool_loaded)
      out=$(query "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'Innodb_buffer_pool_load_status'")
      case $out in 'Buffer pool(s) load completed'* | '') return 0 ;; *) return 1 ;; esac
      ;;
    mariadbupgrade)
      local have f
      for f in "${datadir%/}/mariadb_upgrade_info" "${datadir%/}/mysql_upgrade_info"; do
        [ -s "$f" ] && have=$(tr -d '\0' <"$f" | grep -oE '^[0-9]+\.[0-9]+\.[0-9]+') && break
      done
      [ "${have:-}" = "$(mariadbd --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)" ]
      ;;
  esac
}

for t in "${tests[@]}"; do
  if ! check "$t"; then
    echo "healthcheck.sh: $t failed" >&2
    exit 1
  fi
done
exit 0
