# CMake toolchain file: Debian arm64 (aarch64), for Raspberry Pi 3, 4, 5 and
# Zero 2 W running a 64-bit OS. See boards/README.md and docs/cross.md.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=boards/aarch64-linux-gnu.cmake
set(CAIRN_CROSS_ARCH arm64)
set(CAIRN_CROSS_TRIPLET aarch64-linux-gnu)
set(CAIRN_CROSS_PROCESSOR aarch64)
set(CAIRN_CROSS_QEMU qemu-aarch64-static)
# Cortex-A53: Pi 3 and Zero 2 W, the oldest 64-bit boards.
set(CAIRN_CROSS_QEMU_CPU_DEFAULT cortex-a53)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
