#!/usr/bin/env bash
# Imports every archive of .images/index.json into a containerd of its own (Debian's containerd,
# own root, state and socket in a temporary directory, CRI plugin off), as a node does with
# `ctr -n k8s.io images import FILE`; prints the time of each import and `ctr images ls`, checks
# that every ref of the index is there, then stops containerd and removes all it left.
#   bash tools/images/import-check.sh
set -euo pipefail

log() { printf '[import-check] %s\n' "$*" >&2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
index=${DURABLE_IMAGES_DIR:-$root/.images}/index.json
[ -f "$index" ] || { log "$index is missing: run bash tools/build-images.sh"; exit 1; }
[ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }

dir=$(mktemp -d /tmp/import-check.XXXXXX)
sock=$dir/containerd.sock
cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
TOML
containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || :
  # Whatever containerd or an unpack left mounted below its directory.
  grep -F " $dir/" /proc/self/mounts | awk '{ print $2 }' | sort -r | xargs -r -n 1 umount -l 2>/dev/null || :
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1 && break
  sleep 0.1
done
log "containerd $(containerd --version | awk '{ print $3 }') on $sock"

mapfile -t files < <(node -e 'for (const a of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(a.file)' "$index")
mapfile -t refs < <(node -e 'for (const a of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) for (const r of a.refs) console.log(r)' "$index")
for f in "${files[@]}"; do
  start=$EPOCHREALTIME
  ctr --address "$sock" -n k8s.io images import "$f" >"$dir/import.out" 2>&1 || {
    cat "$dir/import.out" >&2
    log "FAIL: import of $f"
    exit 1
  }
  log "$(basename "$f") ($(du -h "$f" | cut -f1)): imported in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
done
ctr --address "$sock" -n k8s.io images ls >&2
missing=0
have=$(ctr --address "$sock" -n k8s.io images ls -q)
for r in "${refs[@]}"; do
  grep -qxF "$r" <<<"$have" || { log "missing after import: $r"; missing=1; }
done
[ $missing = 0 ] || exit 1
log "ok: ${#refs[@]} refs from ${#files[@]} archives"
