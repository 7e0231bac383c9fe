#!/usr/bin/env bash
# npm run bench: installs what is missing, builds, and runs the benchmarks
# against real dockerd and haproxy. Prints a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/lab/install-deps.sh >&2
stamp=node_modules/.vipkeeper-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund >&2
  echo "$want" > "$stamp"
fi
npm run build >&2
rm -rf .bench-build
npx tsc -p bench/tsconfig.json
# The build dir mirrors the repository, so the built-in templates sit where the code looks.
cp -r templates .bench-build/templates
node .bench-build/bench/run.js "$@"
