#!/usr/bin/env bash
# Installs missing packages and builds the default preset. Prints the path of the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)" --target outpost >&2
echo "$(pwd)/build/default/agent/outpost"
