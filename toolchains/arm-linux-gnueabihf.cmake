# Cross build for 32-bit ARM hard-float (Raspberry Pi OS 32-bit) with Debian's cross compiler
# and the armhf multiarch -dev packages (tools/setup-cross.sh installs both).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(OUTPOST_TRIPLET arm-linux-gnueabihf)
set(OUTPOST_DEB_ARCH armhf)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
