#!/usr/bin/env bash
# Builds the operator's own container image from the project's Dockerfile, on this machine, with no
# Docker engine and no reachable container registry:
#
#   registry (distribution, .bin/registry) on loopback, configured in BuildKit as the mirror of
#     docker.io. It holds the two images the Dockerfile names:
#       docker.io/library/node:20-bookworm-slim  the base (FROM), made here: the debootstrap'd
#         Debian bookworm of tools/build-images.sh plus this machine's Node 20 (the files of its
#         `nodejs` package), its npm settings (/usr/etc/npmrc) and its CA bundle (the build's
#         `npm install` goes through this machine's TLS setup, as the host's npm does);
#       docker.io/docker/dockerfile:1            the syntax image (`# syntax=docker/dockerfile:1`),
#         BuildKit's Dockerfile frontend of the same version as buildkitd (.bin/dockerfile-frontend).
#   buildkitd (.bin/buildkitd) with its OCI worker on runc (Debian's), host network for the
#     build's `npm install`; its cache stays in .images/buildkit, so a warm build reuses layers.
#   buildctl (.bin/buildctl) builds the Dockerfile into docker-archive tarballs for
#     `ctr images import`, listed in .images/index.json (the real nodes import them at start):
#       .images/operator.tar       docker.io/library/durable-db-operator:<chart appVersion>
#       .images/operator-next.tar  docker.io/library/durable-db-operator:<appVersion>-next, the
#         same code with another VERSION label: the chart test's `helm upgrade` to a new tag.
#
# Reproducible: SOURCE_DATE_EPOCH=0, so the same sources give the same image digest, the digest is
# the archive's key, and nodes import an archive only when its key changed.
# Needs root (buildkitd, runc, overlayfs) and .images/cache/base-bookworm (bash tools/build-images.sh).
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DURABLE_BIN_DIR:-$root/.bin}
out=${DURABLE_IMAGES_DIR:-$root/.images}
state=$out/buildkit
work=$state/work
logs=$out/logs
mkdir -p "$state" "$work" "$logs"

log() { printf '[operator-image] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (buildkitd runs the build's steps with runc)"
for b in buildkitd buildctl dockerfile-frontend registry; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing: run \`bash tools/build-binaries.sh\`"
done
command -v runc >/dev/null || die "runc is missing: run \`bash tools/host-packages.sh\`"
base=$out/cache/base-bookworm
[ -d "$base" ] || die "$base is missing: run \`bash tools/build-images.sh\` first"
app_version=$(awk '$1 == "appVersion:" { gsub(/["\047]/, "", $2); print $2 }' "$root/deploy/helm/durable-db-operator/Chart.yaml")
[ -n "$app_version" ] || die "no appVersion in deploy/helm/durable-db-operator/Chart.yaml"
[ -d "$root/crds/generated" ] || die "crds/generated is missing (the Dockerfile copies it): run \`npx tsx crds/generate.ts\`"

# Both daemons live only while this script runs.
pids=()
stop_daemons() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || :; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || :; done
}
trap stop_daemons EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# wait_until WHAT SECONDS CMD...: polls CMD every 0.2 s.
wait_until() {
  local what=$1 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what not up within the deadline (logs in $logs)"
    sleep 0.2
  done
}

# --- the registry ---------------------------------------------------------------------------------
reg_port=$(free_port)
registry=127.0.0.1:$reg_port
cat >"$state/registry.yml" <<EOF
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: $state/registry }
  delete: { enabled: true }
http:
  addr: $registry
EOF
OTEL_TRACES_EXPORTER=none "$bin/registry" serve "$state/registry.yml" >"$logs/registry.log" 2>&1 &
pids+=($!)
wait_until "registry on $registry" 30 curl -fsS "http://$registry/v2/"

# --- buildkitd -------------------------------------------------------------------------------------
sock=$state/buildkitd.sock
cat >"$state/buildkitd.toml" <<EOF
root = "$state/root"
[grpc]
  address = ["unix://$sock"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  networkMode = "host"
  gc = true
  maxUsedSpace = "12GB"
[worker.containerd]
  enabled = false
[registry."docker.io"]
  mirrors = ["$registry"]
[registry."$registry"]
  http = true
  insecure = true
EOF
rm -f "$sock"
"$bin/buildkitd" --config "$state/buildkitd.toml" >"$logs/buildkitd.log" 2>&1 &
pids+=($!)
buildctl() { "$bin/buildctl" --addr "unix://$sock" "$@"; }
wait_until "buildkitd" 60 buildctl debug workers

# build WHAT LOGFILE buildctl-build-args...: one build, its progress in LOGFILE (long: a dot every
# 15 s, the log's tail on failure).
# shellcheck source=lib/long.sh
source "$root/tools/lib/long.sh"
build() {
  local what=$1 started=$SECONDS
  logfile=$2
  shift 2
  : >"$logfile"
  long "$what" buildctl build --progress=plain "$@"
  log "$what: done in $((SECONDS - started)) s"
}

# pushed NAME KEY: true when the registry holds NAME (repo:tag) built from KEY.
pushed() { [ "$(cat "$state/pushed-${1//[:\/]/_}.key" 2>/dev/null)" = "$2" ] && curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' "http://$registry/v2/${1%%:*}/manifests/${1##*:}"; }
mark_pushed() { echo "$2" >"$state/pushed-${1//[:\/]/_}.key"; }

# --- the syntax image docker/dockerfile:1 ----------------------------------------------------------
frontend_key=$(cat "$bin/dockerfile-frontend.version")
if pushed docker/dockerfile:1 "$frontend_key"; then
  log "docker/dockerfile:1 ($frontend_key): in the registry"
else
  ctx=$work/frontend
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$bin/dockerfile-frontend" "$ctx/"
  # The labels BuildKit reads off a frontend image (as upstream's release stage sets them).
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts,moby.buildkit.frontend.gitquerystring,moby.buildkit.frontend.contexts.zstd"
COPY dockerfile-frontend /bin/dockerfile-frontend
ENTRYPOINT ["/bin/dockerfile-frontend"]
EOF
  build "docker/dockerfile:1: the Dockerfile frontend $frontend_key" "$logs/frontend-image.log" \
    --frontend dockerfile.v0 --local context="$ctx" --local dockerfile="$ctx" \
    --output "type=image,name=$registry/docker/dockerfile:1,push=true,registry.insecure=true"
  mark_pushed docker/dockerfile:1 "$frontend_key"
  rm -rf "$ctx"
fi

# --- the base image node:20-bookworm-slim -----------------------------------------------------------
node_version=$(node --version)
case $node_version in v20.*) ;; *) die "the base image is node:20-bookworm-slim, but this machine's Node is $node_version" ;; esac
node_pkg=$(dpkg-query -W -f '${Package}=${Version}' nodejs 2>/dev/null) ||
  die "this machine's Node does not come from Debian's nodejs package: the base image takes that package's files"
npmrc=/usr/etc/npmrc
ca=/etc/ssl/certs/ca-certificates.crt
make_base_rootfs() { # DIR: bookworm + the nodejs package's files + npm settings + CA bundle, slimmed
  local r=$1 f
  cp -a "$base" "$r"
  # The package's files, but its npm and corepack as they are now on the machine (npm updates
  # itself in place: the package's file list no longer describes that tree).
  dpkg-query -L nodejs | while IFS= read -r f; do
    case $f in /usr/share/doc/* | /usr/share/man/* | /usr/include/* | /usr/lib/node_modules/*) continue ;; esac
    if [ -L "$f" ] || [ -f "$f" ]; then
      mkdir -p "$r$(dirname "$f")"
      cp -a "$f" "$r$f"
    fi
  done
  mkdir -p "$r/usr/lib/node_modules"
  cp -a /usr/lib/node_modules/npm /usr/lib/node_modules/corepack "$r/usr/lib/node_modules/"
  if [ -f "$npmrc" ]; then mkdir -p "$r/usr/etc" && cp "$npmrc" "$r/usr/etc/npmrc"; fi
  mkdir -p "$r/etc/ssl/certs" && cp "$ca" "$r/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
    "$r"/usr/share/man "$r"/usr/share/info "$r"/usr/share/locale/* "$r"/tmp/* "$r"/var/tmp/* \
    "$r"/var/cache/ldconfig/aux-cache "$r"/var/lib/dpkg/*-old "$r"/var/cache/debconf/*-old
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/var/log" -type f -delete
  : >"$r/etc/resolv.conf"
  : >"$r/etc/hostname"
  : >"$r/etc/machine-id"
}
base_recipe=$(declare -f make_base_rootfs)
base_key=$(printf '%s\n' "$(cat "$base.key")" "$node_pkg" "$(sha256sum "$(command -v node)" | cut -c1-64)" "npm $(npm --version)" \
  "$(cat "$npmrc" 2>/dev/null)" "$(sha256sum "$ca" | cut -c1-64)" "$base_recipe" | sha256sum | cut -c1-64)
if pushed library/node:20-bookworm-slim "$base_key"; then
  log "node:20-bookworm-slim (Node $node_version): in the registry"
else
  ctx=$work/base
  rm -rf "$ctx" && mkdir -p "$ctx"
  log "node:20-bookworm-slim: bookworm + $node_pkg"
  make_base_rootfs "$ctx/rootfs"
  tar --create --file="$ctx/rootfs.tar" --directory="$ctx/rootfs" --sort=name --mtime=@0 \
    --numeric-owner --format=gnu .
  rm -rf "$ctx/rootfs"
  cat >"$ctx/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV NODE_VERSION=${node_version#v} PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
CMD ["node"]
EOF
  build "node:20-bookworm-slim: pushing to the local registry" "$logs/base-image.log" \
    --frontend dockerfile.v0 --local context="$ctx" --local dockerfile="$ctx" \
    --opt build-arg:SOURCE_DATE_EPOCH=0 \
    --output "type=image,name=$registry/library/node:20-bookworm-slim,push=true,registry.insecure=true,rewrite-timestamp=true"
  mark_pushed library/node:20-bookworm-slim "$base_key"
  rm -rf "$ctx"
fi

# --- the operator image, from the Dockerfile as written -----------------------------------------------
# operator_image FILE TAG VERSION: builds the Dockerfile into FILE as durable-db-operator:TAG,
# keeping FILE (and the nodes' imports) when the digest did not change.
operator_image() {
  local file=$1 tag=$2 version=$3 ref meta digest
  ref=docker.io/library/durable-db-operator:$tag
  meta=$work/metadata-$tag.json
  build "durable-db-operator:$tag from the Dockerfile" "$logs/operator-image-$tag.log" \
    --frontend dockerfile.v0 --local context="$root" --local dockerfile="$root" \
    --opt build-arg:VERSION="$version" --opt build-arg:SOURCE_DATE_EPOCH=0 \
    --metadata-file "$meta" \
    --output "type=docker,name=$ref,dest=$file.tmp,rewrite-timestamp=true"
  digest=$(node -p 'require(process.argv[1])["containerimage.digest"]' "$meta")
  [[ $digest == sha256:* ]] || die "no image digest in $meta"
  digest=${digest#sha256:}
  if [ -f "$file" ] && [ -f "${file%.tar}.json" ] && grep -q "\"key\":\"$digest\"" "${file%.tar}.json"; then
    rm -f "$file.tmp"
    log "durable-db-operator:$tag: unchanged ($digest)"
  else
    mv "$file.tmp" "$file"
    printf '{"refs":["%s"],"file":"%s","key":"%s"}\n' "$ref" "$file" "$digest" >"${file%.tar}.json"
    log "durable-db-operator:$tag: $(du -h "$file" | cut -f1) ($digest)"
  fi
}
started=$SECONDS
operator_image "$out/operator.tar" "$app_version" "$app_version"
operator_image "$out/operator-next.tar" "$app_version-next" "$app_version-next"
log "operator images built in $((SECONDS - started)) s"
bash "$root/tools/build-images.sh" --index-only
