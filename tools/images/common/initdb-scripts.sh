# Sourced by the engine images' docker-entrypoint.sh (installed as
# /usr/local/lib/durable-images/initdb-scripts.sh): the official images' /docker-entrypoint-initdb.d
# contract, shared by postgres and mariadb. Needs the entrypoint's `log`.

# run_init_scripts CLIENT...: runs /docker-entrypoint-initdb.d/* once, in name order, against the
# temporary server: *.sh executed when executable, else sourced; *.sql, *.sql.gz, *.sql.xz and
# *.sql.zst fed to CLIENT on its standard input; anything else ignored.
run_init_scripts() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case $f in
      *.sh)
        if [ -x "$f" ]; then
          log "running $f"
          "$f"
        else
          log "sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) log "running $f" && "$@" <"$f" ;;
      *.sql.gz) log "running $f" && gunzip -c "$f" | "$@" ;;
      *.sql.xz) log "running $f" && xz -dc "$f" | "$@" ;;
      *.sql.zst) log "running $f" && zstd -dc "$f" | "$@" ;;
      *) log "ignoring $f" ;;
    esac
  done
}
