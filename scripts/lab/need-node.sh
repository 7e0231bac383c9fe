#!/usr/bin/env bash
# Node.js 20.19+ is the one requirement not taken from Debian (bookworm's nodejs is 18):
# stop at once with what to install rather than fail later in npm or tsc.
set -euo pipefail
if command -v node >/dev/null 2>&1 \
  && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  exit 0
fi
cat >&2 <<MSG
vipkeeper needs Node.js 20.19 or newer; found $(node --version 2>/dev/null || echo none).
Debian 12's own nodejs package is 18, too old. Install Node.js 20 (LTS) from nodejs.org
(the linux-x64 tarball unpacked into /usr/local) or from NodeSource's Debian repository,
check that \`node --version\` says v20, then run the command again.
MSG
exit 1
