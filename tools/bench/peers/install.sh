#!/usr/bin/env bash
# Installs the optional benchmark peers (pinned) into a cache directory OUTSIDE the workspace, so
# that they never enter package.json or the lockfile:
#
#   bash tools/bench/peers/install.sh [restate] [dbos]      (default: both)
#
# Where: $DSE_PEERS_DIR, default ~/.cache/dse-peers. `dse bench` (tools/bench) looks for them there
# and skips a peer with a note when it is missing.
#   restate: @restatedev/restate-server 1.7.12 (ships a linux-x64 binary) + @restatedev/restate-sdk 1.17.2
#   dbos:    @dbos-inc/dbos-sdk 5.3.0. At run time it needs PostgreSQL: DBOS_DATABASE_URL, or else
#            PostgreSQL's server binaries (initdb, postgres), from which the bench starts a private
#            throwaway server for the run (as the `postgres` user when run as root; see README).
set -euo pipefail

DIR="${DSE_PEERS_DIR:-$HOME/.cache/dse-peers}"
RESTATE_SERVER_VERSION="1.7.12"
RESTATE_SDK_VERSION="1.17.2"
DBOS_VERSION="5.3.0"

what=("$@")
[ ${#what[@]} -eq 0 ] && what=(restate dbos)

install_into() {
  local sub="$1"; shift
  mkdir -p "$DIR/$sub"
  # A package.json of its own, so npm never walks up into a workspace.
  [ -f "$DIR/$sub/package.json" ] || printf '{ "name": "dse-peer-%s", "private": true }\n' "$sub" > "$DIR/$sub/package.json"
  # No telemetry from install scripts (Restate's npm package uses Scarf).
  (cd "$DIR/$sub" && SCARF_ANALYTICS=false DO_NOT_TRACK=1 npm install --no-audit --no-fund --save-exact "$@")
}

for peer in "${what[@]}"; do
  case "$peer" in
    restate)
      install_into restate "@restatedev/restate-server@$RESTATE_SERVER_VERSION" "@restatedev/restate-sdk@$RESTATE_SDK_VERSION"
      bin="$(find "$DIR/restate/node_modules/@restatedev" -type f -name restate-server -perm -u+x 2>/dev/null | head -1 || true)"
      if [ -z "$bin" ]; then echo "restate: no restate-server binary found under $DIR/restate (unsupported platform?)" >&2; exit 1; fi
      "$bin" --version || true
      echo "restate: installed in $DIR/restate ($bin)"
      ;;
    dbos)
      install_into dbos "@dbos-inc/dbos-sdk@$DBOS_VERSION"
      echo "dbos: installed in $DIR/dbos (needs PostgreSQL: DBOS_DATABASE_URL, or initdb + postgres for a private server per run)"
      ;;
    *)
      echo "unknown peer: $peer (restate | dbos)" >&2
      exit 2
      ;;
  esac
done
