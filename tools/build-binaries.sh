#!/usr/bin/env bash
# Builds the real components of the local stack from the Go module proxy into .bin/:
#   temporal (CLI whose `server start-dev` is the Temporal server + UI),
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler (tools/k8s wrapper module),
#   kubelet, kube-proxy (the real worker nodes, with Debian's containerd, runc and CNI plugins),
#   CoreDNS (cluster DNS for the real nodes), kwok (simulated nodes for scale tests),
#   helm (renders and lints the chart in deploy/helm),
#   durable-peer (tools/k8s/peer: the plain controller of the cost benchmark),
#   versitygw (the S3-compatible object store S3 backups go to, posix backend),
#   buildkitd, buildctl, dockerfile-frontend, registry (the operator image, built from the
#   Dockerfile: tools/build-operator-image.sh).
# Each binary is rebuilt only when its pinned version changes: .bin/<name>.version records the
# version it was built from. Progress goes to stderr; a cold build takes a while on 2 cores.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DURABLE_BIN_DIR:-$root/.bin}
mkdir -p "$bin"

TEMPORAL_CLI_VERSION=v1.5.1
KWOK_VERSION=v0.7.0
# helm.sh/helm/v3 v3.22.0 declares `go 1.26.0` and has no `replace` directive.
HELM_VERSION=v3.22.0
COREDNS_VERSION=v1.14.7
# github.com/versity/versitygw v1.8.0 builds with a plain `go build` (no cgo, no replace directive).
VERSITYGW_VERSION=v1.8.0
# github.com/moby/buildkit: buildkitd, buildctl and the Dockerfile frontend, from one module.
BUILDKIT_VERSION=v0.34.2
# github.com/distribution/distribution/v3: the registry the image build pulls its base image from.
DISTRIBUTION_VERSION=v3.1.2
# The Kubernetes and etcd versions are those pinned in tools/k8s/go.mod.
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$root/tools/k8s/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$root/tools/k8s/go.mod")

export GOFLAGS=-buildvcs=false
# Kubernetes binaries report the version they were built from (otherwise v0.0.0-master).
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=$(echo "$k8s_version" | cut -d. -f1 | tr -d v) -X k8s.io/component-base/version.gitMinor=$(echo "$k8s_version" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"

log() { printf '[binaries] %s\n' "$*" >&2; }

# up_to_date NAME VERSION: true when .bin/NAME exists and was built from VERSION.
up_to_date() { [ -x "$bin/$1" ] && [ "$(cat "$bin/$1.version" 2>/dev/null)" = "$2" ]; }

# build NAME VERSION DIR PACKAGE [LDFLAGS]: `go build` PACKAGE inside module DIR, printing a dot
# every 15 s so that a long cold build is visibly alive.
build() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags="-s -w ${5:-}" started=$SECONDS
  if up_to_date "$name" "$version"; then
    log "$name $version: up to date"
    return
  fi
  log "$name $version: building $pkg (first build takes minutes; a dot every 15 s)"
  (while sleep 15; do printf '.' >&2; done) &
  local ticker=$!
  # shellcheck disable=SC2064
  trap "kill $ticker 2>/dev/null" RETURN
  if ! (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"); then
    printf '\n' >&2
    log "$name: build FAILED"
    return 1
  fi
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$version" > "$bin/$name.version"
  printf '\n' >&2
  log "$name $version: built in $((SECONDS - started)) s"
}

# Modules outside tools/k8s are built in a throw-away module that requires them at the pinned
# version (same as `go install pkg@version`, which we avoid so that GOBIN stays untouched).
# pinned_module NAME MODULE VERSION PACKAGE...: every PACKAGE is got, so that one module directory
# can build several binaries of the same module.
pinned_module() {
  local dir=$bin/.mod-$1 module=$2 version=$3
  shift 3
  mkdir -p "$dir"
  if [ ! -f "$dir/go.mod" ] || ! grep -q "$module $version" "$dir/go.mod"; then
    rm -f "$dir/go.mod" "$dir/go.sum"
    (cd "$dir" && go mod init "durable-db-operator/tools/$(basename "$dir")" >/dev/null 2>&1 &&
      printf '//go:build tools\npackage tools\n' > tools.go &&
      go get "${@/%/@$version}" 2>&1 | tail -n 3 >&2)
  fi
  echo "$dir"
}

log "Go: $(go version)"
started_all=$SECONDS

if ! up_to_date temporal "$TEMPORAL_CLI_VERSION"; then
  dir=$(pinned_module temporal github.com/temporalio/cli "$TEMPORAL_CLI_VERSION" github.com/temporalio/cli/cmd/temporal)
  build temporal "$TEMPORAL_CLI_VERSION" "$dir" github.com/temporalio/cli/cmd/temporal
else
  log "temporal $TEMPORAL_CLI_VERSION: up to date"
fi

if ! up_to_date kwok "$KWOK_VERSION"; then
  dir=$(pinned_module kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok)
  build kwok "$KWOK_VERSION" "$dir" sigs.k8s.io/kwok/cmd/kwok
else
  log "kwok $KWOK_VERSION: up to date"
fi

if ! up_to_date helm "$HELM_VERSION"; then
  dir=$(pinned_module helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm)
  # What Helm's release build stamps: its version (else only "v3.22"), and the Kubernetes version
  # of its client-go as the default of .Capabilities.KubeVersion and of lint's deprecation checks
  # (else v1.20).
  helm_kube_minor=$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2] }' "$dir/go.mod")
  helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_kube_minor"
  done
  build helm "$HELM_VERSION" "$dir" helm.sh/helm/v3/cmd/helm "$helm_ldflags"
else
  log "helm $HELM_VERSION: up to date"
fi

if ! up_to_date coredns "$COREDNS_VERSION"; then
  dir=$(pinned_module coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns)
  build coredns "$COREDNS_VERSION" "$dir" github.com/coredns/coredns
else
  log "coredns $COREDNS_VERSION: up to date"
fi

if ! up_to_date versitygw "$VERSITYGW_VERSION"; then
  dir=$(pinned_module versitygw github.com/versity/versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw)
  build versitygw "$VERSITYGW_VERSION" "$dir" github.com/versity/versitygw/cmd/versitygw
else
  log "versitygw $VERSITYGW_VERSION: up to date"
fi

# The operator's own image (tools/build-operator-image.sh) is built from the Dockerfile by BuildKit
# (buildkitd with its OCI worker on runc, driven by buildctl), which takes the base image
# node:20-bookworm-slim and the Dockerfile's syntax image docker/dockerfile:1 from a local
# registry (distribution) that mirrors docker.io. dockerfile-frontend is the syntax image's
# program. All three are static (no cgo).
for name in buildkitd buildctl dockerfile-frontend; do
  if up_to_date "$name" "$BUILDKIT_VERSION"; then
    log "$name $BUILDKIT_VERSION: up to date"
    continue
  fi
  dir=$(pinned_module buildkit github.com/moby/buildkit "$BUILDKIT_VERSION" \
    github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl \
    github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend)
  case $name in
    dockerfile-frontend) pkg=github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend ;;
    *) pkg=github.com/moby/buildkit/cmd/$name ;;
  esac
  CGO_ENABLED=0 build "$name" "$BUILDKIT_VERSION" "$dir" "$pkg" "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION"
done

if ! up_to_date registry "$DISTRIBUTION_VERSION"; then
  dir=$(pinned_module registry github.com/distribution/distribution/v3 "$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3/cmd/registry)
  CGO_ENABLED=0 build registry "$DISTRIBUTION_VERSION" "$dir" github.com/distribution/distribution/v3/cmd/registry
else
  log "registry $DISTRIBUTION_VERSION: up to date"
fi

k8s=$root/tools/k8s
build etcd "$etcd_version" "$k8s" go.etcd.io/etcd/server/v3
build kube-apiserver "$k8s_version" "$k8s" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager "$k8s_version" "$k8s" k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kube-scheduler "$k8s_version" "$k8s" k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
build kubelet "$k8s_version" "$k8s" k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
build kube-proxy "$k8s_version" "$k8s" k8s.io/kubernetes/cmd/kube-proxy "$k8s_ldflags"
# The plain controller-runtime controller that the cost benchmark (test/bench/cost.ts) measures the
# operator against: our own source in the tools/k8s module, so its version is a hash of that source
# and of the module's pinned dependencies.
peer_version=$(cat "$k8s"/peer/*.go "$k8s/go.mod" "$k8s/go.sum" | sha256sum | cut -c1-16)
build durable-peer "$peer_version" "$k8s" ./peer
# kubectl is expected on the machine (DESIGN.md); build the matching one only where it is missing.
if ! command -v kubectl >/dev/null 2>&1; then
  build kubectl "$k8s_version" "$k8s" k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
fi

log "all binaries ready in $bin ($((SECONDS - started_all)) s)"
