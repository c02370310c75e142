# Shared by the per-target toolchain files; expects OUTPOST_TRIPLET, OUTPOST_DEB_ARCH and
# CMAKE_SYSTEM_PROCESSOR. tools/setup-cross.sh installs what it uses.
set(CMAKE_C_COMPILER ${OUTPOST_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${OUTPOST_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${OUTPOST_TRIPLET})

# The target's libraries come from one of two places:
# - multiarch (the normal case): `dpkg --add-architecture` and the target's -dev packages
#   installed beside the build machine's, in /usr/lib/<triplet> and /usr/include;
# - a sysroot, /var/cache/outpost-cross/<arch>/sysroot, that tools/setup-cross.sh unpacks when
#   the multiarch packages cannot be installed (see there). Used only when the multiarch
#   libraries are absent, or when -DOUTPOST_CROSS_SYSROOT=<dir> names one.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES OUTPOST_CROSS_SYSROOT)
set(_outpost_sysroot /var/cache/outpost-cross/${OUTPOST_DEB_ARCH}/sysroot)
if(DEFINED OUTPOST_CROSS_SYSROOT AND OUTPOST_CROSS_SYSROOT)
  set(_outpost_sysroot ${OUTPOST_CROSS_SYSROOT})
elseif(EXISTS /usr/lib/${OUTPOST_TRIPLET}/libzstd.so OR NOT EXISTS ${_outpost_sysroot}/usr/lib/${OUTPOST_TRIPLET})
  set(_outpost_sysroot "")
endif()

if(_outpost_sysroot)
  set(CMAKE_SYSROOT ${_outpost_sysroot})
  set(CMAKE_FIND_ROOT_PATH ${_outpost_sysroot})
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_outpost_sysroot}")
  set(ENV{PKG_CONFIG_LIBDIR} "${_outpost_sysroot}/usr/lib/${OUTPOST_TRIPLET}/pkgconfig:${_outpost_sysroot}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(_outpost_qemu_prefix ${_outpost_sysroot})
else()
  # Search the target's multiarch directories for libraries and headers, the host for programs.
  set(CMAKE_FIND_ROOT_PATH /usr/${OUTPOST_TRIPLET})
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
  list(APPEND CMAKE_PREFIX_PATH /usr/lib/${OUTPOST_TRIPLET}/cmake)

  # pkg-config must read the target's .pc files, never the build machine's.
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${OUTPOST_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")

  # simdjson and yaml-cpp: their Debian 12 -dev packages are not Multi-Arch: same (installing
  # the target's would remove the build machine's), so tools/setup-cross.sh installs only the
  # target's runtime libraries and these config files link them with the build machine's
  # (architecture-independent) headers.
  set(simdjson_DIR ${CMAKE_CURRENT_LIST_DIR}/cmake/simdjson CACHE PATH "simdjson for the target" FORCE)
  set(yaml-cpp_DIR ${CMAKE_CURRENT_LIST_DIR}/cmake/yaml-cpp CACHE PATH "yaml-cpp for the target" FORCE)
  # No -L for qemu: the multiarch libc6:<arch> puts the target's loader at its real path
  # (/lib/ld-linux-aarch64.so.1) and the libraries in /lib/<triplet>, where it finds them.
  # `-L /usr/<triplet>` would pair the cross toolchain's older ld.so (libc6-<arch>-cross,
  # 2.36-8cross1) with the multiarch libc.so.6 (2.36-9+deb12uN): a loader and libc from
  # different builds, and the first pthread_create spins forever.
  set(_outpost_qemu_prefix "")
endif()

# Test binaries (and anything CMake runs at build time) run under user-mode qemu with the
# target's loader and libraries (-L: qemu looks up absolute paths there first).
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm)
endif()
if(_outpost_qemu_prefix)
  list(APPEND CMAKE_CROSSCOMPILING_EMULATOR -L ${_outpost_qemu_prefix})
endif()
