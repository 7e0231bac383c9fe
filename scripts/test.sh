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

npm run build
npx tsc -p test/tsconfig.json --noEmit
# The benches are not run here, but they must still build against the code (a merge broke one once).
npx tsc -p bench/tsconfig.json --noEmit
npx vitest run "$@"
