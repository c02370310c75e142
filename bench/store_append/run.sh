#!/usr/bin/env bash
# Runs bench/store_append twice (records without and with keys); JSON lines on stdout.
set -euo pipefail
bin=${1:-build/default/bench/store_append/store_append}
"$bin" --keys 0
"$bin" --keys 1
