#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: installs missing Debian packages, builds
# the default (release) preset and runs every test, then builds the debug preset (ASan + UBSan)
# and runs the unit and fault tests under the sanitizers.
#
# Options (environment):
#   OUTPOST_TEST_PRESETS="default debug"   which presets to build and test
#   OUTPOST_LONG=1                         also the long soak/fault runs (documented in README)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash tools/install-deps.sh

presets=${OUTPOST_TEST_PRESETS:-"default debug"}
jobs=$(nproc)
werror=OFF
[[ "${CI:-}" == "true" ]] && werror=ON

status=0
for preset in $presets; do
  echo "=== preset $preset: configure and build ==="
  cmake --preset "$preset" -DOUTPOST_WERROR=$werror >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== preset $preset: test ==="
  labels=""
  if [[ "$preset" == "debug" ]]; then
    # Under the sanitizers: the unit, crash and corruption tests (the integration tests run
    # against real servers in the default preset).
    labels="-L unit|fault"
  fi
  # shellcheck disable=SC2086
  if ! ctest --preset "$preset" -j "$jobs" $labels; then
    status=1
  fi
done
exit $status
