#!/usr/bin/env bash
# One command from a fresh clone to a running Sluice: installs pnpm and the workspace's
# dependencies if needed, builds, then starts everything (see scripts/quickstart.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [[ "$node_major" -lt 20 ]]; then
  echo "Sluice needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi
if ! command -v pnpm >/dev/null 2>&1; then
  echo "• installing pnpm 10"
  npm install -g pnpm@10 >/dev/null
fi
pnpm install --frozen-lockfile
pnpm run build
exec ./node_modules/.bin/tsx scripts/quickstart.ts
