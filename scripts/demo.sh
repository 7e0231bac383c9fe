#!/usr/bin/env bash
# The demo (README, Quick start): two load-balancer hosts in network namespaces on
# this machine, app containers on the local Docker engine, one VIP, and a failover
# drill. As root on Debian 12:
#   bash scripts/demo.sh          bring it up (again: it tears down an earlier one first)
#   bash scripts/demo.sh down     remove everything it made (dockerd keeps running)
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-up}
case "$action" in up|down) ;; *) echo "usage: bash scripts/demo.sh [up|down]" >&2; exit 64 ;; esac

if [ "$(id -u)" != 0 ]; then
  echo "demo: run it as root: it makes network namespaces, runs dockerd, haproxy and keepalived" >&2
  exit 1
fi

bash scripts/lab/need-node.sh

if [ "$action" = up ]; then
  bash scripts/lab/install-deps.sh >/dev/null
  stamp=node_modules/.vipkeeper-lock-hash
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "demo: installing node modules (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$want" > "$stamp"
  fi
  echo "demo: building vipkeeper"
  npm run --silent build
fi
# The demo reuses the test lab's code (namespaces, bridge, app image): compiled apart from dist/,
# incrementally (its build info lives in .demo-build, so removing that starts afresh): `down`
# right after `up` compiles nothing again (4 s here instead of 20).
npx tsc -p scripts/demo/tsconfig.json
exec node .demo-build/scripts/demo/demo.js "$action"
