# Shared by the per-target toolchain files; expects OUTPOST_TRIPLET and CMAKE_SYSTEM_PROCESSOR.
set(CMAKE_C_COMPILER ${OUTPOST_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${OUTPOST_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${OUTPOST_TRIPLET})

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

# Test binaries (and anything CMake runs at build time) run under user-mode qemu with the
# target's loader and libraries.
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/${OUTPOST_TRIPLET})
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm;-L;/usr/${OUTPOST_TRIPLET})
endif()
