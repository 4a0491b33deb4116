#!/usr/bin/env bash
# Installs pnpm 10.34.9 (if this exact version is not on PATH) and the dependencies pinned by
# pnpm-lock.yaml (if node_modules is missing or older than the lockfile). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
want=10.34.9
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "dse needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  echo "installing pnpm $want ..." >&2
  npm i -g "pnpm@$want" >&2
fi
if [ ! -d node_modules ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "installing dependencies (better-sqlite3 compiles from source: about a minute) ..." >&2
  pnpm install --frozen-lockfile >&2
fi
