# Cross build for 64-bit ARM (Raspberry Pi OS 64-bit, AWS Graviton) with Debian's cross
# compiler and the arm64 multiarch -dev packages (tools/setup-cross.sh installs both).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(OUTPOST_TRIPLET aarch64-linux-gnu)
set(OUTPOST_DEB_ARCH arm64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
