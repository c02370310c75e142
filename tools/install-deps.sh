#!/usr/bin/env bash
# Installs what building, testing and the demo need, from Debian's packages only.
# Idempotent: installs only what is missing, runs `apt-get update` only when needed.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries (see docs/ARCHITECTURE.md: one well-kept library per job)
  librdkafka-dev libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libuv1-dev libzstd-dev
  libyaml-cpp-dev doctest-dev libsimdjson-dev libcli11-dev libcpp-httplib-dev libsystemd-dev
  libxxhash-dev libssl-dev
  # real servers and independent clients used by tests, benchmarks and the demo
  mosquitto mosquitto-clients kcat python3 python3-kafka zstd socat openssl sqlite3 procps
  faketime    # libfaketime: tests/faults/clock_jump_test.py moves the daemon's wall clock
  prometheus  # promtool checks the /metrics format
  systemd     # systemd-analyze security/verify check the unit (tests/deploy)
)
if [[ -n "${OUTPOST_EXTRA_PACKAGES:-}" ]]; then
  read -r -a extra <<<"${OUTPOST_EXTRA_PACKAGES}"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or with sudo)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "install-deps: apt-get update reported errors; trying the install anyway" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
