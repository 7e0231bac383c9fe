#!/usr/bin/env bash
# Builds vipkeeper's container image here, with no container registry: when the
# Dockerfile's base image (node:20-bookworm-slim) is missing it is made locally
# from debootstrap and this machine's own Node 20, under that same name, so the
# Dockerfile stays the ordinary one users with a registry build.
#
# Both images are cached in the engine: the base is made only when missing, the
# vipkeeper image only when missing or when its inputs changed (a hash of them is
# kept as an image label). Prints the image name on stdout, progress on stderr.
#
#   bash scripts/image/build.sh [IMAGE]      (default vipkeeper:local)
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-vipkeeper:local}
base=$(sed -n 's/^ARG NODE_IMAGE=//p' docker/Dockerfile)
say() { echo "image: $*" >&2; }

# The hash of everything the Dockerfile copies or runs: a change to any of it means a rebuild.
inputs_hash() {
  { git ls-files -co --exclude-standard -- docker .dockerignore package.json package-lock.json tsconfig.json src templates compose/docker-socket-proxy 2>/dev/null \
      || find docker .dockerignore package.json package-lock.json tsconfig.json src templates compose/docker-socket-proxy -type f; } \
    | LC_ALL=C sort -u | while read -r f; do [ -f "$f" ] && sha256sum "$f"; done | sha256sum | cut -d' ' -f1
}

make_base() {
  say "making $base locally (debootstrap bookworm + this machine's Node $(node --version)); cached afterwards"
  command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local node_bin node_prefix root
  node_bin=$(readlink -f "$(command -v node)")
  case "$(node -p 'process.versions.node.split(".")[0]')" in
    20) ;;
    *) echo "image: the local base image needs Node 20 on this machine (found $(node --version))" >&2; exit 1 ;;
  esac
  node_prefix=$(dirname "$(dirname "$node_bin")")
  root=$(mktemp -d /var/tmp/vipkeeper-base-XXXXXX)
  trap 'rm -rf "$root"' RETURN
  debootstrap --variant=minbase bookworm "$root" >&2
  # Lay Node out as the official image does: /usr/local/bin/{node,npm,npx}.
  install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$node_prefix/lib/node_modules/npm" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # As debian:bookworm-slim (the official image's own base) does: no docs, man pages or
  # translations from later installs, and apt leaves no caches behind.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
    > "$root/etc/dpkg/dpkg.cfg.d/docker"
  printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$root/etc/apt/apt.conf.d/docker-clean"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  # This machine's trust store, so npm inside `docker build` trusts what this machine trusts
  # (a TLS-inspecting proxy's CA, say). Only this local stand-in carries it.
  local extra_env=()
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    extra_env=(-c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
  fi
  tar -C "$root" -c . | docker import "${extra_env[@]}" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["node"]' - "$base" >/dev/null
}

docker image inspect "$base" >/dev/null 2>&1 || make_base

want=$(inputs_hash)
have=$(docker image inspect -f '{{ index .Config.Labels "vipkeeper.inputs-hash" }}' "$image" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  say "building $image"
  old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  docker build --force-rm -f docker/Dockerfile --label "vipkeeper.inputs-hash=$want" -t "$image" . >&2
  # The image this build replaced, and only it, so repeated builds do not fill the disk
  # (kept when a container still uses it).
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
  fi
else
  say "$image is up to date"
fi
echo "$image"
