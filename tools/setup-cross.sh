#!/usr/bin/env bash
# Installs Debian's cross compiler, user-mode qemu and the target's -dev libraries (multiarch)
# for one or more targets: arm64 (Raspberry Pi OS 64-bit, Graviton) and armhf (Pi OS 32-bit).
#   bash toolchains/setup-cross.sh arm64 armhf
set -euo pipefail
targets=("$@")
((${#targets[@]})) || targets=(arm64)

# Multi-Arch: same -dev packages install beside the build machine's own.
libs=(librdkafka-dev libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libuv1-dev libzstd-dev
      libsystemd-dev libxxhash-dev libssl-dev libcpp-httplib-dev)
# NOT Multi-Arch: same in bookworm: installing libyaml-cpp-dev:arm64 or libsimdjson-dev:arm64
# REMOVES the amd64 -dev package and breaks the native build. Only their runtime libraries
# are installed for the target; headers come from the native -dev package (they are
# architecture-independent) and cross-common.cmake links the target's .so.N directly.
runtime_only=(libyaml-cpp0.7 libsimdjson14)
want=(qemu-user)
for arch in "${targets[@]}"; do
  case "$arch" in
    arm64) want+=(g++-aarch64-linux-gnu) ;;
    armhf) want+=(g++-arm-linux-gnueabihf) ;;
    *) echo "setup-cross: unknown target '$arch' (arm64 or armhf)" >&2; exit 2 ;;
  esac
  for l in "${libs[@]}" "${runtime_only[@]}"; do want+=("$l:$arch"); done
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "setup-cross: missing ${missing[*]}; run as root" >&2
  exit 1
fi
added=0
for arch in "${targets[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch"
    added=1
  fi
done
export DEBIAN_FRONTEND=noninteractive
# A mirror mid-sync can fail one index; the install below says clearly if that mattered.
apt-get update -qq || echo "setup-cross: apt-get update reported errors; trying the install anyway" >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
: "$added"
