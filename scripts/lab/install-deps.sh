#!/usr/bin/env bash
# Installs the real components the tests run against, from Debian's packages,
# only when something is missing: harmless to run again.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd || need+=(docker.io)
have docker-compose || need+=(docker-compose)
have haproxy || need+=(haproxy)
have keepalived || need+=(keepalived)
have ip || need+=(iproute2)
have iptables || need+=(iptables)
have wrk || need+=(wrk)
have curl || need+=(curl)
have tcpdump || need+=(tcpdump)
have ps || need+=(procps)
# The operator page's browser test drives Debian's chromium with playwright-core (no browser download).
have chromium || need+=(chromium)
# ACME tests run Debian's pebble (the ACME server) and pebble-challtestsrv (its DNS).
have pebble || need+=(pebble)
# The TLS handshake rate in the bench is measured with h2load.
have h2load || need+=(nghttp2-client)
# The app image is built from the statically linked busybox, not a dynamic one.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
# An independent YAML reader: a unit test reads `vipkeeper show --yaml` and hostile strings back with it.
dpkg-query -W -f='${Status}' python3-yaml 2>/dev/null | grep -q 'ok installed' || need+=(python3-yaml)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing ${need[*]} and not root: install them first" >&2
    exit 1
  fi
  echo "install-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# HAProxy's Runtime API `add server` needs 2.6; keepalived's track_process needs 2.x.
haproxy -v | sed -n 1p
keepalived --version 2>&1 | sed -n 1p
