#!/usr/bin/env bash
# The README's first command: sets up a fresh machine (pnpm 10.34.9 and the locked dependencies,
# once) and runs the main job: `dse demo` (a local cluster on loopback, a workload across services,
# a SIGKILL mid-run, recovery, and latency figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec pnpm dse demo "$@"
