# CMake toolchain file: Debian armhf (ARMv7-A, VFPv3-D16, Thumb-2, hard
# float), for Raspberry Pi 2, 3, 4, 5 and Zero 2 W running a 32-bit OS. Not
# for Pi 1 / Zero / Zero W (ARMv6): Debian's armhf code traps there.
# See boards/README.md and docs/cross.md.
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=boards/arm-linux-gnueabihf.cmake
set(CAIRN_CROSS_ARCH armhf)
set(CAIRN_CROSS_TRIPLET arm-linux-gnueabihf)
set(CAIRN_CROSS_PROCESSOR armv7l)
set(CAIRN_CROSS_QEMU qemu-arm-static)
# Cortex-A7: Pi 2 (BCM2836), the oldest ARMv7 board.
set(CAIRN_CROSS_QEMU_CPU_DEFAULT cortex-a7)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
