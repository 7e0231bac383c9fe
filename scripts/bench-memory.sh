#!/usr/bin/env bash
# npm run bench:memory: where the agent's memory goes (issue 12). Prints Markdown tables:
#   1. RSS per imported module (fresh node per row)              bench/memory-imports.ts
#   2. RSS of a real `vipkeeper run` idle at 0 and 1000 backends  bench/memory-idle.ts
#      (needs root and the lab: dockerd, haproxy, keepalived; skipped otherwise)
#   3. the pure core over 10,000 passes at 1000 backends, with the image's node flags
#                                                                  bench/memory-passes.ts
#   4. issue 12's targets next to what 2 and 3 measured           bench/memory-summary.ts
# Where others share the lab, hold its lock around the whole run (step 2 starts agents).
# BENCH_IDLE_RUNS (3) agents per row in step 2, BENCH_MEMORY_PASSES (10000) in step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >&2
rm -rf .bench-build
npx tsc -p bench/tsconfig.json
node .bench-build/bench/memory-imports.js
echo
if [ "$(id -u)" = 0 ] && command -v haproxy >/dev/null && command -v keepalived >/dev/null; then
  node .bench-build/bench/memory-idle.js "${BENCH_IDLE_RUNS:-3}"
else
  echo "memory-idle: skipped (needs root, haproxy and keepalived: bash scripts/lab/install-deps.sh)"
fi
echo
passes=0
# shellcheck disable=SC2046 # the image's node flags, one word each
node --expose-gc $(node .bench-build/bench/image-flags.js) .bench-build/bench/memory-passes.js "${BENCH_MEMORY_PASSES:-10000}" || passes=$?
node .bench-build/bench/memory-summary.js
exit "$passes"
