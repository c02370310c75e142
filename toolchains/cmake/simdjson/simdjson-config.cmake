# simdjson for a cross build. Debian 12's libsimdjson-dev is not Multi-Arch: same, so only the
# target's runtime library (libsimdjson14:<arch>) is installed; the header is the build
# machine's /usr/include/simdjson.h (architecture-independent, same version), which Debian's
# cross compilers search. Mirrors the simdjson::simdjson target of the native package.
set(simdjson_VERSION 3.0.1)
find_package(Threads REQUIRED)
find_library(OUTPOST_SIMDJSON_SO NAMES libsimdjson.so.14
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH REQUIRED)
if(NOT TARGET simdjson::simdjson)
  add_library(simdjson::simdjson SHARED IMPORTED)
  set_target_properties(simdjson::simdjson PROPERTIES
    IMPORTED_LOCATION "${OUTPOST_SIMDJSON_SO}"
    IMPORTED_SONAME libsimdjson.so.14
    INTERFACE_COMPILE_DEFINITIONS SIMDJSON_THREADS_ENABLED=1
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
set(simdjson_FOUND TRUE)
