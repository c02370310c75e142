#!/usr/bin/env bash
# Installs, from Debian's packages only, what a cross build needs: the cross compiler
# (crossbuild-essential-*), user-mode qemu (to run the unit tests) and the target's libraries
# (multiarch, after `dpkg --add-architecture`). Idempotent: does nothing when all is installed.
#   bash tools/setup-cross.sh aarch64          # or arm64: Pi OS 64-bit, Graviton
#   bash tools/setup-cross.sh armhf            # Pi OS 32-bit
#   bash tools/setup-cross.sh aarch64 armhf
# Exit 0 when every target named is ready, 1 when one is not (the others are still set up).
#
# Fallback: when the target's multiarch packages cannot be installed (a mirror served a broken
# index for that architecture, so its libraries' versions cannot match the build machine's
# security updates), the same libraries are downloaded with apt-get into a private cache and
# unpacked into a sysroot, /var/cache/outpost-cross/<arch>/sysroot, without touching dpkg's
# database; toolchains/cross-common.cmake uses that sysroot when the multiarch libraries are
# absent. OUTPOST_CROSS_SYSROOT=1 takes this path directly.
set -euo pipefail
targets=("$@")
((${#targets[@]})) || targets=(aarch64)

# Multi-Arch: same -dev packages install beside the build machine's own (same version).
libs=(librdkafka-dev libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libuv1-dev libzstd-dev
      libsystemd-dev libxxhash-dev libssl-dev libcpp-httplib-dev)
# NOT Multi-Arch: same in bookworm: installing libyaml-cpp-dev:arm64 or libsimdjson-dev:arm64
# REMOVES the amd64 -dev package and breaks the native build. Only their runtime libraries
# are installed for the target; the headers come from the native -dev package (they are
# architecture-independent) and toolchains/cross-common.cmake links the target's .so.N.
runtime_only=(libyaml-cpp0.7 libsimdjson14)
host_pkgs=(qemu-user libyaml-cpp-dev libsimdjson-dev doctest-dev libcli11-dev)
# Header-only packages the sysroot needs too (a sysroot build does not see /usr/include).
sysroot_extra=(libc6-dev libyaml-cpp-dev libsimdjson-dev doctest-dev libcli11-dev)

arches=()
for t in "${targets[@]}"; do
  case "$t" in
    aarch64|arm64) arches+=(arm64) ;;
    armhf|arm) arches+=(armhf) ;;
    *) echo "setup-cross: unknown target '$t' (aarch64 or armhf)" >&2; exit 2 ;;
  esac
done
arch_pkgs() {  # the packages one target needs
  echo "crossbuild-essential-$1"
  for l in "${libs[@]}" "${runtime_only[@]}"; do echo "$l:$1"; done
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing_of() { for p in "$@"; do installed "$p" || echo "$p"; done; }

all=("${host_pkgs[@]}")
for arch in "${arches[@]}"; do mapfile -t -O "${#all[@]}" all < <(arch_pkgs "$arch"); done
mapfile -t missing < <(missing_of "${all[@]}")
if ((${#missing[@]} == 0)); then
  echo "setup-cross: ${arches[*]}: everything installed" >&2
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup-cross: missing ${missing[*]}; run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# apt-get update with retries: a mirror mid-sync can serve a stale index (the armhf security
# index did, "File has unexpected size"). Returns non-zero if it still fails after 3 tries.
update() {
  local try
  for try in 1 2 3; do
    apt-get update -qq && return 0
    echo "setup-cross: apt-get update reported errors (try $try of 3)" >&2
    ((try < 3)) && sleep $((try * 5))
  done
  return 1
}
install_set() {  # install_set LABEL PACKAGE...
  local label=$1; shift
  local todo
  mapfile -t todo < <(missing_of "$@")
  ((${#todo[@]})) || return 0
  echo "setup-cross: $label: installing ${todo[*]}" >&2
  if ! apt-get install -y -qq --no-install-recommends "${todo[@]}" >/dev/null; then
    echo "setup-cross: $label: apt-get install failed (a missing index, or target libraries whose" \
         "versions do not match the build machine's)" >&2
    return 1
  fi
}

# sysroot ARCH: the fallback described at the top. Idempotent: skipped when the sysroot exists
# with the same package list.
sysroot() {
  local arch=$1 cache=/var/cache/outpost-cross/$1
  local want_list
  want_list=$(printf '%s\n' "${libs[@]}" "${runtime_only[@]}" "${sysroot_extra[@]}" | sort)
  if [[ -f $cache/sysroot/.outpost-packages ]] && [[ "$(cat "$cache/sysroot/.outpost-packages")" == "$want_list" ]]; then
    echo "setup-cross: $arch: sysroot $cache/sysroot ready" >&2
    return 0
  fi
  mkdir -p "$cache/lists/partial" "$cache/archives/partial"
  : >"$cache/status"
  local opts=(-o "Dir::State::Lists=$cache/lists" -o "Dir::Cache::Archives=$cache/archives"
              -o "Dir::State::Status=$cache/status" -o "APT::Architecture=$arch"
              -o "APT::Architectures::=$arch" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
  # A failed index (the security one) leaves the older versions from the main archive, which is
  # fine here: nothing is installed beside the build machine's packages.
  apt-get "${opts[@]}" update -qq || echo "setup-cross: $arch: some indexes failed; using the rest" >&2
  # shellcheck disable=SC2046
  if ! apt-get "${opts[@]}" install -y -qq --download-only --no-install-recommends \
         $(printf '%s\n' "$want_list") >/dev/null; then
    echo "setup-cross: $arch: downloading the sysroot's packages failed" >&2
    return 1
  fi
  rm -rf "$cache/sysroot.new"
  mkdir -p "$cache/sysroot.new"
  local deb link target
  for deb in "$cache"/archives/*.deb; do dpkg -x "$deb" "$cache/sysroot.new"; done
  # Absolute symlinks (libz.so -> /lib/...) must point into the sysroot, not at the build machine.
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    ln -sfr "$cache/sysroot.new$target" "$link"
  done < <(find "$cache/sysroot.new" -type l -lname '/*' -print0)
  printf '%s\n' "$want_list" >"$cache/sysroot.new/.outpost-packages"
  rm -rf "$cache/sysroot"
  mv "$cache/sysroot.new" "$cache/sysroot"
  echo "setup-cross: $arch: sysroot $cache/sysroot ready ($(ls "$cache"/archives/*.deb | wc -l) packages)" >&2
}

status=0
install_set host "${host_pkgs[@]}" || { update || true; install_set host "${host_pkgs[@]}" || status=1; }
for arch in "${arches[@]}"; do
  mapfile -t pkgs < <(arch_pkgs "$arch")
  mapfile -t todo < <(missing_of "${pkgs[@]}")
  if ((${#todo[@]} == 0)); then echo "setup-cross: $arch: ready" >&2; continue; fi
  if [[ -f /var/cache/outpost-cross/$arch/sysroot/.outpost-packages ]] && installed "crossbuild-essential-$arch"; then
    # An earlier run fell back to the sysroot: keep using it (sysroot refreshes it if needed).
    sysroot "$arch" || status=1
    continue
  fi
  if [[ "${OUTPOST_CROSS_SYSROOT:-0}" == "1" ]]; then
    install_set "$arch compiler" "crossbuild-essential-$arch" && sysroot "$arch" || status=1
    continue
  fi
  added=0
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch"
    added=1
  fi
  if ! update; then
    # apt drops every index of a source when one of its files fails, so a broken index for
    # this architecture would also hide the security updates of the others (and the target
    # libraries would no longer match the build machine's versions). Take the architecture
    # back out unless something of it is installed.
    if ((added)) && ! dpkg-query -W -f='${Architecture}\n' 2>/dev/null | grep -qx "$arch"; then
      echo "setup-cross: $arch: its package index cannot be fetched now; removing the" \
           "architecture again so the other targets keep working" >&2
      dpkg --remove-architecture "$arch"
      update || true
      echo "setup-cross: $arch: falling back to a private sysroot" >&2
      install_set "$arch compiler" "crossbuild-essential-$arch" && sysroot "$arch" || status=1
      continue
    fi
  fi
  if install_set "$arch" "${pkgs[@]}"; then
    echo "setup-cross: $arch: ready" >&2
  else
    echo "setup-cross: $arch: falling back to a private sysroot" >&2
    install_set "$arch compiler" "crossbuild-essential-$arch" && sysroot "$arch" || status=1
  fi
done
exit $status
