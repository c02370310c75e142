# yaml-cpp for a cross build. Debian 12's libyaml-cpp-dev is not Multi-Arch: same, so only the
# target's runtime library (libyaml-cpp0.7:<arch>) is installed; the headers are the build
# machine's /usr/include/yaml-cpp (architecture-independent, same version), which Debian's
# cross compilers search. Mirrors the yaml-cpp target of the native package.
set(yaml-cpp_VERSION 0.7.0)
find_library(OUTPOST_YAML_CPP_SO NAMES libyaml-cpp.so.0.7
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH REQUIRED)
if(NOT TARGET yaml-cpp)
  add_library(yaml-cpp SHARED IMPORTED)
  set_target_properties(yaml-cpp PROPERTIES
    IMPORTED_LOCATION "${OUTPOST_YAML_CPP_SO}"
    IMPORTED_SONAME libyaml-cpp.so.0.7)
endif()
set(YAML_CPP_LIBRARIES yaml-cpp)
set(YAML_CPP_INCLUDE_DIR "")
set(yaml-cpp_FOUND TRUE)
