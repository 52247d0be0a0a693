#!/usr/bin/env bash
# Installs the Debian packages the local stack needs where they are missing (asks for nothing):
# the real nodes' containerd, runc, CNI plugins, iptables and conntrack (kube-proxy), openssl (the
# stack's PKI), debootstrap (the images) and gcc with libc6-dev (the static pause program). Run by `npm test`
# and `npm run dev`; prints nothing more than one line when everything is there.
set -euo pipefail
log() { printf '[host] %s\n' "$*" >&2; }
need=()
for cmd_pkg in containerd:containerd ctr:containerd runc:runc iptables:iptables conntrack:conntrack \
  openssl:openssl gcc:gcc ip:iproute2 mount:mount; do
  command -v "${cmd_pkg%%:*}" >/dev/null || need+=("${cmd_pkg#*:}")
done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# debootstrap lives in /usr/sbin; gcc needs libc6-dev's static libc for the pause program.
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
if [ ${#need[@]} -eq 0 ]; then
  log "Debian packages: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "missing Debian packages: ${need[*]}; the real nodes need root: run as root (or apt-get install them)"
  exit 1
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
log "installing Debian packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
log "Debian packages installed"
