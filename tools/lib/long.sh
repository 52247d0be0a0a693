# Sourced by tools/build-images.sh and tools/build-operator-image.sh, which define log and die.
#
# long WHAT CMD...: runs CMD (a command or a function), its output appended to $logfile, printing a
# dot every 15 s so that a long step is visibly alive; on failure, the log's tail and die.
long() {
  local what=$1 started=$SECONDS
  shift
  log "$what"
  (while sleep 15; do printf '.' >&2; done) &
  local ticker=$! rc=0
  "$@" >>"$logfile" 2>&1 || rc=$?
  kill "$ticker" 2>/dev/null
  wait "$ticker" 2>/dev/null || :
  [ $((SECONDS - started)) -lt 15 ] || printf '\n' >&2
  if [ $rc -ne 0 ]; then
    tail -n 30 "$logfile" >&2
    die "$what: FAILED (exit $rc; full log: $logfile)"
  fi
}
