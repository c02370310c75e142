#!/usr/bin/env bash
# Installs DuckDB's Node.js client (@duckdb/node-api, with its prebuilt native binding) into a
# project-local directory, for the differential test and the window benchmarks: DuckDB is the
# independent reference engine (issue 4). Nothing is installed globally.
#
#   tools/install-duckdb.sh            # -> $OUTPOST_NPM_DIR (default: <repo>/build/npm)
#   OUTPOST_NPM_DIR=/some/dir tools/install-duckdb.sh
#
# Idempotent and quiet: when the package is already there and loads, it does nothing. Prints the
# directory to use as NODE_PATH's parent on success. Exit 0: usable; 1: could not install (for
# example offline) with a message saying what to do.
set -euo pipefail

version="${OUTPOST_DUCKDB_VERSION:-1.5.6-r.1}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${OUTPOST_NPM_DIR:-$repo/build/npm}"
node="${NODE:-node}"

if ! command -v "$node" >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-duckdb: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

works() {
  (cd "$dir" && "$node" --input-type=module -e '
    import { DuckDBInstance } from "@duckdb/node-api";
    const db = await DuckDBInstance.create(":memory:");
    const c = await db.connect();
    const r = await c.runAndReadAll("SELECT 42 AS answer");
    if (r.getRows()[0][0] !== 42) process.exit(1);
  ') >/dev/null 2>&1
}

mkdir -p "$dir"
if [[ -d "$dir/node_modules/@duckdb/node-api" ]] && works; then
  echo "$dir"
  exit 0
fi

[[ -f "$dir/package.json" ]] || echo '{"name":"outpost-duckdb-reference","private":true}' >"$dir/package.json"
log="$dir/npm-install.log"
if ! (cd "$dir" && npm install --no-audit --no-fund --loglevel=error \
        "@duckdb/node-api@$version" >"$log" 2>&1); then
  echo "install-duckdb: 'npm install @duckdb/node-api@$version' failed in $dir" >&2
  echo "install-duckdb: is registry.npmjs.org reachable (offline? proxy?)? npm said:" >&2
  tail -n 5 "$log" >&2
  exit 1
fi
if ! works; then
  echo "install-duckdb: installed @duckdb/node-api in $dir but it does not load with $($node --version);" >&2
  echo "install-duckdb: its native binding may not exist for $(uname -m) (see $log)" >&2
  exit 1
fi
echo "$dir"
