#!/usr/bin/env bash
# The one test command (npm test): installs what is missing, builds, and runs
# every test against real dockerd, haproxy and keepalived. The lab itself
# (dockerd, the app image, test interfaces) is set up and torn down by the
# tests' global setup, also when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/lab/need-node.sh
bash scripts/lab/install-deps.sh

# Reinstall node modules only when the lockfile changed since the last install.
stamp=node_modules/.vipkeeper-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# Three independent compiles, each on one core: side by side they take about half as long
# on two cores (measured here: 82 s one after another, 42 s side by side).
# The benches are not run here, but they must still build against the code (a merge broke one once).
npx tsc -p test/tsconfig.json --noEmit & tests_typecheck=$!
npx tsc -p bench/tsconfig.json --noEmit & bench_typecheck=$!
npm run build
wait "$tests_typecheck"
wait "$bench_typecheck"
npx vitest run "$@"
