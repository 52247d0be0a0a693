#!/usr/bin/env bash
# Builds the container images of the local stack's real nodes from Debian packages, without a
# Docker engine or a registry, into .images/ (one docker-archive tarball per archive, for
# `ctr -n k8s.io images import FILE`), and writes .images/index.json:
#   [{ "refs": ["docker.io/library/postgres:15", ...], "file": "/abs/postgres-15.tar", "key": "…" }]
# (read it with builtImages() from tools/images/index.ts).
#
#   postgres-15.tar    postgres:15 + :15.x (bookworm postgresql-15), and the test images
#                      localhost/durable-test/postgres-never-ready:15, …/postgres-crashing:15
#   postgres-17.tar    postgres:17 + :17.x (trixie postgresql-17)
#   mariadb-10.11.tar  mariadb:10.11 + :10.11.x (bookworm), and localhost/durable-test/mariadb-never-ready:10.11
#   mariadb-11.8.tar   mariadb:11.8 + :11.8.x (trixie)
#   aws-cli.tar        amazon/aws-cli:<Debian's awscli version> (bookworm awscli)
#   pause.tar          registry.k8s.io/pause:3.10 (tools/images/pause/pause.c, gcc -static)
#   operator*.tar      the operator's own image: tools/build-operator-image.sh builds them and
#                      runs `--index-only` (rewrites index.json, builds nothing)
#
# Content-hashed cache: an archive's key is the sha256 of BUILDER_VERSION, its suite, its package
# list, the text of its recipe functions below and of every file it copies from tools/images/,
# and its base's key. An archive is rebuilt only when its key changes; the debootstrap base of a
# suite (.images/cache/base-<suite>, keyed by BUILDER_VERSION, suite and mirror) is shared by all
# archives of that suite. Downloaded .debs are kept in .images/cache/apt-<suite>.
# Layer tars are reproducible (sorted names, mtime 0, numeric owners), so the same root file
# system gives the same digests.
#
# Needs root (debootstrap, chroot, unshare), debootstrap, gcc with libc6-dev (static pause) and
# the Debian archive. Options: --only NAME[,NAME] builds just those archives; --force rebuilds.
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/tools/images
out=${DURABLE_IMAGES_DIR:-$root/.images}
cache=$out/cache
work=$out/work

# Bump when a change to the shared machinery below (not a recipe, not an input file) must rebuild
# every image.
BUILDER_VERSION=1
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
ARCHIVES=(pause postgres-15 mariadb-10.11 aws-cli postgres-17 mariadb-11.8)
# Built by tools/build-operator-image.sh from the Dockerfile (with BuildKit), listed here too.
OPERATOR_ARCHIVES=(operator operator-next)

log() { printf '[images] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

only=() force= index_only=
while [ $# -gt 0 ]; do
  case $1 in
    --only) IFS=, read -ra only <<<"$2" && shift 2 ;;
    --force) force=1 && shift ;;
    --index-only) index_only=1 && shift ;;
    *) die "unknown option $1 (use --only NAME[,NAME], --force or --index-only)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, unshare)"
for tool in debootstrap gcc unshare chroot tar sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap gcc libc6-dev)"
done

# long WHAT CMD...: see tools/lib/long.sh.
# shellcheck source=lib/long.sh
source "$root/tools/lib/long.sh"

sha_text() { sha256sum | cut -d' ' -f1; }
sha_file() { sha256sum "$1" | cut -d' ' -f1; }

# in_root ROOTFS CMD...: runs CMD inside ROOTFS with its own mount and PID namespaces (a fresh
# /proc, the suite's .deb cache bound on /var/cache/apt/archives); nothing stays mounted after.
in_root() {
  local rootfs=$1 debs=$cache/apt-$suite
  shift
  mkdir -p "$debs/partial"
  unshare --mount --pid --fork --mount-proc="$rootfs/proc" -- sh -c '
    mount --bind "$2" "$1/var/cache/apt/archives" && shift 2 && exec chroot "$0" "$@"' \
    "$rootfs" "$rootfs" "$debs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

apt_install() {
  in_root "$rootfs" apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

# ---------------------------------------------------------------------------------------------
# Base root file systems: debootstrap minbase of a suite with its -updates and -security pockets,
# no recommends, no docs, man pages or locales in later installs, services never started.

base_steps() {
  local dir=$1
  # debootstrap leaves its .debs; later downloads go to the shared cache (see in_root).
  rm -f "$dir"/var/cache/apt/archives/*.deb
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb $SECURITY_MIRROR $suite-security main
EOF
  cat >"$dir/etc/apt/apt.conf.d/01-durable-images" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
  cat >"$dir/etc/dpkg/dpkg.cfg.d/01-durable-images" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  printf '#!/bin/sh\n# no service starts while an image is built\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  in_root "$dir" apt-get update -q
  in_root "$dir" apt-get dist-upgrade -y -q
}

ensure_base() {
  local dir=$cache/base-$suite key
  key=$(printf '%s\n' "$BUILDER_VERSION" "$suite" "$MIRROR" "$SECURITY_MIRROR" "$(declare -f base_steps)" | sha_text)
  base_key=$key
  if [ -d "$dir" ] && [ "$(cat "$dir.key" 2>/dev/null)" = "$key" ]; then
    log "base $suite: cached ($dir)"
    return
  fi
  rm -rf "$dir" "$dir.tmp" "$dir.key"
  mkdir -p "$cache" "$out/logs"
  local logfile=$out/logs/base-$suite.log
  : >"$logfile"
  long "base $suite: debootstrap --variant=minbase (about a minute)" \
    debootstrap --variant=minbase --components=main "$suite" "$dir.tmp" "$MIRROR"
  long "base $suite: security and point-release updates" base_steps "$dir.tmp"
  mv "$dir.tmp" "$dir"
  echo "$key" >"$dir.key"
}

# ---------------------------------------------------------------------------------------------
# Image files.

json_str() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
json_arr() {
  local sep='' x
  printf '['
  for x; do
    printf '%s%s' "$sep" "$(json_str "$x")"
    sep=,
  done
  printf ']'
}
json_set() { # "a" "b" → {"a":{},"b":{}}
  local sep='' x
  printf '{'
  for x; do
    printf '%s%s:{}' "$sep" "$(json_str "$x")"
    sep=,
  done
  printf '}'
}

# layer_tar DIR OUT [PATH...]: a reproducible layer tar of DIR (every entry, or just PATHs);
# prints the diff_id's hex. /dev, /proc and /sys stay empty: the runtime provides them.
layer_tar() {
  local dir=$1 tarfile=$2
  shift 2
  local -a what=("$@") opts=(--sort=name --mtime=@0 --numeric-owner --format=gnu --no-acls --no-xattrs)
  if [ ${#what[@]} -eq 0 ]; then
    mapfile -t what < <(cd "$dir" && ls -A)
    opts+=(--exclude=./dev/* --exclude=dev/* --exclude=proc/* --exclude=sys/*)
  else
    opts+=(--no-recursion)
  fi
  tar --create --file="$tarfile" --directory="$dir" "${opts[@]}" -- "${what[@]}"
  sha_file "$tarfile"
}

# Image config of the archive being built: cfg_* variables, set by a recipe.
cfg_user='' cfg_workdir='' cfg_entrypoint=() cfg_cmd=() cfg_env=() cfg_ports=() cfg_volumes=() cfg_stopsignal=''
cfg_reset() {
  cfg_user='' cfg_workdir='' cfg_entrypoint=() cfg_cmd=() cfg_env=() cfg_ports=() cfg_volumes=() cfg_stopsignal=''
}

# write_config DESCRIPTION DIFF_ID_HEX...: writes the config JSON into the archive directory and
# prints its hex digest.
write_config() {
  local what=$1 ids=() d history=() tmp
  shift
  for d; do ids+=("sha256:$d"); done
  for d; do history+=("{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":$(json_str "$what")}"); done
  tmp=$archive_dir/config.tmp
  {
    printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{'
    printf '"User":%s,"WorkingDir":%s,' "$(json_str "$cfg_user")" "$(json_str "$cfg_workdir")"
    printf '"Env":%s,' "$(json_arr "${cfg_env[@]}")"
    printf '"Entrypoint":%s,' "$(json_arr "${cfg_entrypoint[@]}")"
    [ ${#cfg_cmd[@]} -gt 0 ] && printf '"Cmd":%s,' "$(json_arr "${cfg_cmd[@]}")"
    [ ${#cfg_ports[@]} -gt 0 ] && printf '"ExposedPorts":%s,' "$(json_set "${cfg_ports[@]}")"
    [ ${#cfg_volumes[@]} -gt 0 ] && printf '"Volumes":%s,' "$(json_set "${cfg_volumes[@]}")"
    [ -n "$cfg_stopsignal" ] && printf '"StopSignal":%s,' "$(json_str "$cfg_stopsignal")"
    printf '"Labels":{"dev.durable.built-by":"tools/build-images.sh"}},'
    printf '"rootfs":{"type":"layers","diff_ids":%s},' "$(json_arr "${ids[@]}")"
    local IFS=,
    printf '"history":[%s]}' "${history[*]}"
  } >"$tmp"
  d=$(sha_file "$tmp")
  mv "$tmp" "$archive_dir/$d.json"
  echo "$d"
}

# add_image "REF REF..." DESCRIPTION LAYER_HEX...: one entry of manifest.json, with the current
# cfg_* as its config. The layer tars are already in the archive directory as <hex>/layer.tar.
manifest_entries=() archive_refs=()
add_image() {
  local refs=$1 what=$2 config layers=() l
  shift 2
  config=$(write_config "$what" "$@")
  for l; do layers+=("$l/layer.tar"); done
  # shellcheck disable=SC2086
  manifest_entries+=("{\"Config\":\"$config.json\",\"RepoTags\":$(json_arr $refs),\"Layers\":$(json_arr "${layers[@]}")}")
  # shellcheck disable=SC2206
  archive_refs+=($refs)
}

# add_layer DIR [PATH...]: a layer tar of DIR in the archive directory; prints its hex.
add_layer() {
  local tmp=$archive_dir/layer.tmp id
  id=$(layer_tar "$1" "$tmp" "${@:2}")
  mkdir -p "$archive_dir/$id"
  mv "$tmp" "$archive_dir/$id/layer.tar"
  echo "$id"
}

# ---------------------------------------------------------------------------------------------
# Shared recipe steps.

# Root file system of the archive: a copy of its suite's base.
new_rootfs() {
  rootfs=$work/$name/rootfs
  long "$name: copying the $suite base" cp -a "$cache/base-$suite" "$rootfs"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  long "$name: apt-get update" in_root "$rootfs" apt-get update -q
}

add_user() { # NAME HOME: system user and group NAME with uid and gid 999, as the official images
  in_root "$rootfs" groupadd --system --gid 999 "$1"
  in_root "$rootfs" useradd --system --uid 999 --gid 999 --home-dir "$2" --no-create-home --shell /bin/bash "$1"
}

install_file() { # SRC (relative to tools/images) DEST MODE
  install -D -m "$3" "$here/$1" "$rootfs$2"
}

# Leaves only what runs: no apt lists or caches, no docs (copyright files stay), man pages,
# locales (C.UTF-8 is built into libc), logs or build-time helpers.
slim_rootfs() {
  local r=$rootfs
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/debconf/*-old \
    "$r"/var/lib/dpkg/*-old "$r"/var/cache/ldconfig/aux-cache "$r"/usr/share/man "$r"/usr/share/info \
    "$r"/usr/share/lintian "$r"/usr/share/locale/* "$r"/root/.cache "$r"/tmp/* "$r"/var/tmp/* \
    "$r"/usr/sbin/policy-rc.d
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$r/usr/lib/locale" -mindepth 1 -maxdepth 1 ! -name C.utf8 -exec rm -rf {} +
  find "$r/var/log" -type f -delete
  find "$r/run" -mindepth 1 -maxdepth 1 ! -name lock ! -name mysqld ! -name postgresql -exec rm -rf {} +
  # ssl-cert's postinst makes a random key pair: not reproducible, and no image should ship one.
  rm -f "$r"/etc/ssl/certs/ssl-cert-snakeoil.pem "$r"/etc/ssl/private/ssl-cert-snakeoil.key
  find "$r/etc/ssl/certs" -xtype l -delete 2>/dev/null || :
  : >"$r/etc/resolv.conf"
  : >"$r/etc/hostname"
  # The runtime mounts its own; this one is for a bare chroot (tools/images/verify.sh).
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
  : >"$r/etc/machine-id" 2>/dev/null || :
}

# Debian's version of PACKAGE, upstream part only (1:10.11.19-0+deb12u1 → 10.11.19,
# 1:11.8.9+ds-0+deb13u1 → 11.8.9).
package_version() {
  local v
  v=$(in_root "$rootfs" dpkg-query -W -f='${Version}' "$1")
  v=${v#*:}
  v=${v%%-*}
  echo "${v%%[+~]*}"
}

# ---------------------------------------------------------------------------------------------
# Recipes. Each sets suite and packages (inputs of the key), lists its input files, and builds.

recipe_pause() {
  suite='' packages=(gcc-static) inputs=(pause/pause.c) helpers=()
  [ "${1:-}" = inputs ] && { gcc --version | head -n 1; return; }
  rootfs=$work/$name/rootfs
  mkdir -p "$rootfs"
  log "$name: gcc -static pause.c"
  gcc -static -O2 -Wall -Werror -o "$rootfs/pause" "$here/pause/pause.c" >>"$logfile" 2>&1
  strip "$rootfs/pause"
  local layer
  layer=$(add_layer "$rootfs")
  cfg_reset
  cfg_user=65535:65535 cfg_entrypoint=(/pause)
  cfg_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  add_image "registry.k8s.io/pause:3.10" "pause (gcc -static)" "$layer"
}

postgres_recipe() { # MAJOR
  local major=$1
  new_rootfs
  add_user postgres /var/lib/postgresql
  mkdir -p "$rootfs/var/lib/postgresql"
  chown 999:999 "$rootfs/var/lib/postgresql"
  # No cluster is created by the package: the entrypoint makes one in PGDATA.
  long "$name: apt-get install postgresql-common" apt_install postgresql-common
  sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' "$rootfs/etc/postgresql-common/createcluster.conf"
  long "$name: apt-get install ${packages[*]}" apt_install "${packages[@]}"
  # initdb copies the sample: listen on every address, as the official image does.
  sed -ri "s/^#?\s*(listen_addresses)\s*=\s*\S+/\1 = '*'/" "$rootfs/usr/share/postgresql/$major/postgresql.conf.sample"
  grep -q "^listen_addresses = '\*'" "$rootfs/usr/share/postgresql/$major/postgresql.conf.sample" ||
    die "$name: could not set listen_addresses in postgresql.conf.sample"
  install -d -o 999 -g 999 -m 3777 "$rootfs/run/postgresql"
  install -d -o 999 -g 999 -m 0700 "$rootfs/var/lib/postgresql/data"
  install -d -m 0755 "$rootfs/docker-entrypoint-initdb.d"
  install_file postgres/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh 0755
  install_file common/initdb-scripts.sh /usr/local/lib/durable-images/initdb-scripts.sh 0644
  local bin=/usr/lib/postgresql/$major/bin tool
  for tool in postgres initdb pg_ctl psql pg_dump pg_basebackup pg_isready pg_rewind; do
    [ -x "$rootfs$bin/$tool" ] || die "$name: $bin/$tool is missing"
  done
  version=$(package_version "postgresql-$major")
  slim_rootfs
  log "$name: PostgreSQL $version; writing the layer"
  base_layer=$(add_layer "$rootfs")
  cfg_reset
  cfg_entrypoint=(docker-entrypoint.sh) cfg_cmd=(postgres) cfg_stopsignal=SIGINT
  cfg_env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$bin" LANG=C.UTF-8
    "PG_MAJOR=$major" "PG_VERSION=$version" PGDATA=/var/lib/postgresql/data)
  cfg_ports=(5432/tcp) cfg_volumes=(/var/lib/postgresql/data)
  add_image "docker.io/library/postgres:$major docker.io/library/postgres:$version" \
    "Debian $suite postgresql-$major $version" "$base_layer"
}

recipe_postgres-15() {
  suite=bookworm packages=(postgresql-15) helpers=(postgres_recipe) inputs=(postgres/docker-entrypoint.sh common/initdb-scripts.sh faults/never-ready.sh faults/crashing-entrypoint.sh)
  [ "${1:-}" = inputs ] && return
  postgres_recipe 15
  # Test images: one small layer each on top of the same base layer.
  local t=$work/$name/never-ready crash=$work/$name/crashing layer
  install -D -m 0755 "$here/faults/never-ready.sh" "$t/usr/lib/postgresql/15/bin/pg_isready"
  install -D -m 0755 "$here/faults/never-ready.sh" "$t/usr/bin/pg_isready"
  layer=$(add_layer "$t" usr/bin/pg_isready usr/lib/postgresql/15/bin/pg_isready)
  add_image localhost/durable-test/postgres-never-ready:15 "pg_isready always exits 1" "$base_layer" "$layer"
  install -D -m 0755 "$here/faults/crashing-entrypoint.sh" "$crash/usr/local/bin/docker-entrypoint.sh"
  layer=$(add_layer "$crash" usr/local/bin/docker-entrypoint.sh)
  add_image localhost/durable-test/postgres-crashing:15 "the entrypoint exits 1" "$base_layer" "$layer"
}

recipe_postgres-17() {
  suite=trixie packages=(postgresql-17) helpers=(postgres_recipe) inputs=(postgres/docker-entrypoint.sh common/initdb-scripts.sh)
  [ "${1:-}" = inputs ] && return
  postgres_recipe 17
}

mariadb_recipe() { # SERIES
  local series=$1
  new_rootfs
  add_user mysql /var/lib/mysql
  long "$name: apt-get install ${packages[*]}" apt_install "${packages[@]}"
  local r=$rootfs
  # The package's postinst initialized a datadir: the entrypoint makes its own.
  rm -rf "$r"/var/lib/mysql "$r"/var/lib/mysql-files "$r"/var/lib/mysql-keyring "$r"/etc/mysql/debian.cnf
  install -d -o 999 -g 999 -m 0755 "$r/var/lib/mysql"
  install -d -o 999 -g 999 -m 1777 "$r/run/mysqld"
  # As the official image: no bind-address, log file or user from the distribution's server
  # config (the operator's file in /etc/mysql/conf.d decides), no host cache or name resolution.
  sed -ri 's/^(bind-address|log_error|log-error|user)\s*=/#&/' "$r/etc/mysql/mariadb.conf.d/50-server.cnf"
  printf '[mariadbd]\nhost-cache-size=0\nskip-name-resolve\n' >"$r/etc/mysql/mariadb.conf.d/05-skipcache.cnf"
  grep -q '^!includedir /etc/mysql/conf.d' "$r/etc/mysql/mariadb.cnf" || die "$name: mariadb.cnf does not include conf.d"
  install -d -m 0755 "$r/etc/mysql/conf.d" "$r/docker-entrypoint-initdb.d"
  install_file mariadb/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh 0755
  install_file common/initdb-scripts.sh /usr/local/lib/durable-images/initdb-scripts.sh 0644
  install_file mariadb/healthcheck.sh /usr/local/bin/healthcheck.sh 0755
  if [ "$series" != 10.11 ]; then
    # The official MariaDB 11 images have only the mariadb* command names.
    find "$r/usr/bin" "$r/usr/sbin" -maxdepth 1 -name 'mysql*' -delete
  fi
  local tool
  for tool in mariadbd mariadb mariadb-admin mariadb-dump mariadb-install-db mariadb-upgrade mariadb-backup; do
    [ -x "$r/usr/bin/$tool" ] || [ -x "$r/usr/sbin/$tool" ] || die "$name: $tool is missing"
  done
  version=$(package_version mariadb-server)
  slim_rootfs
  log "$name: MariaDB $version; writing the layer"
  base_layer=$(add_layer "$rootfs")
  cfg_reset
  cfg_entrypoint=(docker-entrypoint.sh) cfg_cmd=(mariadbd) cfg_stopsignal=SIGTERM
  cfg_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "MARIADB_VERSION=$version")
  cfg_ports=(3306/tcp) cfg_volumes=(/var/lib/mysql)
  add_image "docker.io/library/mariadb:$series docker.io/library/mariadb:$version" \
    "Debian $suite mariadb-server $version" "$base_layer"
}

recipe_mariadb-10.11() {
  suite=bookworm packages=(mariadb-server mariadb-client mariadb-backup) helpers=(mariadb_recipe)
  inputs=(mariadb/docker-entrypoint.sh mariadb/healthcheck.sh common/initdb-scripts.sh faults/never-ready.sh faults/mariadb-admin.sh)
  [ "${1:-}" = inputs ] && return
  mariadb_recipe 10.11
  local t=$work/$name/never-ready layer
  [ -L "$rootfs/usr/bin/mysqladmin" ] || die "$name: expected mysqladmin to be a link to mariadb-admin"
  install -D -m 0755 "$here/faults/never-ready.sh" "$t/usr/local/bin/healthcheck.sh"
  install -D -m 0755 "$here/faults/mariadb-admin.sh" "$t/usr/bin/mariadb-admin"
  install -D -m 0755 "$rootfs/usr/bin/mariadb-admin" "$t/usr/lib/durable-test/mariadb-admin.real"
  layer=$(add_layer "$t" usr/bin/mariadb-admin usr/lib/durable-test usr/lib/durable-test/mariadb-admin.real \
    usr/local/bin/healthcheck.sh)
  add_image localhost/durable-test/mariadb-never-ready:10.11 "mariadb-admin ping and healthcheck.sh always fail" \
    "$base_layer" "$layer"
}

recipe_mariadb-11.8() {
  suite=trixie packages=(mariadb-server mariadb-client mariadb-backup) helpers=(mariadb_recipe)
  inputs=(mariadb/docker-entrypoint.sh mariadb/healthcheck.sh common/initdb-scripts.sh)
  [ "${1:-}" = inputs ] && return
  mariadb_recipe 11.8
}

recipe_aws-cli() {
  suite=bookworm packages=(awscli) inputs=() helpers=()
  [ "${1:-}" = inputs ] && return
  new_rootfs
  long "$name: apt-get install ${packages[*]}" apt_install "${packages[@]}"
  version=$(package_version awscli)
  slim_rootfs
  log "$name: awscli $version; writing the layer"
  base_layer=$(add_layer "$rootfs")
  cfg_reset
  cfg_entrypoint=(/usr/bin/aws)
  cfg_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
  add_image "docker.io/amazon/aws-cli:$version" "Debian $suite awscli $version" "$base_layer"
}

# ---------------------------------------------------------------------------------------------

# archive_key: the cache key of archive $name (after its recipe set suite, packages, inputs and
# helpers, the engine recipe it shares with another archive).
archive_key() {
  local extra f
  extra=$("recipe_$name" inputs)
  {
    printf '%s\n' "$BUILDER_VERSION" "$name" "$suite" "${packages[@]}" "$extra" "$base_key"
    declare -f "recipe_$name" "${helpers[@]}" new_rootfs add_user install_file slim_rootfs \
      package_version layer_tar write_config add_image add_layer
    for f in "${inputs[@]}"; do
      printf '%s %s\n' "$f" "$(sha_file "$here/$f")"
    done
  } | sha_text
}

build_archive() {
  local key file=$out/$name.tar meta=$out/$name.json started=$SECONDS
  suite='' base_key=''
  "recipe_$name" inputs >/dev/null
  [ -z "$suite" ] || ensure_base
  key=$(archive_key)
  if [ -z "$force" ] && [ -f "$file" ] && [ -f "$meta" ] && grep -q "\"key\":\"$key\"" "$meta"; then
    log "$name: up to date ($(du -h "$file" | cut -f1), key ${key:0:12})"
    return
  fi
  logfile=$out/logs/$name.log
  mkdir -p "$out/logs"
  : >"$logfile"
  archive_dir=$work/$name/archive
  rm -rf "${work:?}/$name"
  mkdir -p "$archive_dir"
  manifest_entries=() archive_refs=()
  log "$name: building (key ${key:0:12}, log $logfile)"
  "recipe_$name"
  local IFS=,
  printf '[%s]\n' "${manifest_entries[*]}" >"$archive_dir/manifest.json"
  unset IFS
  local entries
  mapfile -t entries < <(cd "$archive_dir" && ls -A | grep -v '\.tmp$')
  long "$name: writing $file" tar --create --file="$file.tmp" --directory="$archive_dir" \
    --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -- "${entries[@]}"
  mv "$file.tmp" "$file"
  printf '{"refs":%s,"file":%s,"key":%s}\n' "$(json_arr "${archive_refs[@]}")" "$(json_str "$file")" \
    "$(json_str "$key")" >"$meta"
  rm -rf "${work:?}/$name"
  log "$name: built in $((SECONDS - started)) s: $(du -h "$file" | cut -f1), ${archive_refs[*]}"
}

# index.json: every archive built so far (an --only run keeps the others), rewritten after each
# archive so that a failed run leaves the finished ones usable.
write_index() {
  local metas=() n i
  for n in "${ARCHIVES[@]}" "${OPERATOR_ARCHIVES[@]}"; do
    [ -f "$out/$n.json" ] && [ -f "$out/$n.tar" ] && metas+=("$(cat "$out/$n.json")")
  done
  {
    printf '[\n'
    for i in "${!metas[@]}"; do
      printf '  %s%s\n' "${metas[$i]}" "$([ "$i" -lt $((${#metas[@]} - 1)) ] && echo ,)"
    done
    printf ']\n'
  } >"$out/index.json.tmp"
  mv "$out/index.json.tmp" "$out/index.json"
  indexed=${#metas[@]}
}

mkdir -p "$out"
if [ -n "$index_only" ]; then
  write_index
  log "$out/index.json lists $indexed archives"
  exit 0
fi
# Builds share 2 cores with everything else: the whole build runs niced.
renice -n 10 $$ >/dev/null
started_all=$SECONDS
for name in "${ARCHIVES[@]}"; do
  if [ ${#only[@]} -gt 0 ] && ! grep -qxF "$name" <<<"$(printf '%s\n' "${only[@]}")"; then
    continue
  fi
  build_archive
  write_index
done
write_index
rmdir "$work" 2>/dev/null || :
log "done in $((SECONDS - started_all)) s: $out/index.json lists $indexed archives"
