# Shared part of Cairn's cross toolchain files (boards/<triplet>.cmake).
# The including file sets CAIRN_CROSS_ARCH (Debian arch), CAIRN_CROSS_TRIPLET,
# CAIRN_CROSS_PROCESSOR, CAIRN_CROSS_QEMU and CAIRN_CROSS_QEMU_CPU_DEFAULT.
#
# The sysroot is CAIRN_SYSROOT (-D or environment), else
# ${XDG_CACHE_HOME:-$HOME/.cache}/cairn/sysroot-<arch>; boards/mksysroot
# makes it. Compiler, headers, libraries and pkg-config data all come from
# the sysroot (the cross compilers' own glibc is the same Debian release);
# programs run at build time (protoc-c) are the host's. Test programs run
# through qemu-user (CMAKE_CROSSCOMPILING_EMULATOR) with the sysroot as
# library prefix and a CPU model of the oldest supported board.

if(NOT CAIRN_SYSROOT)
  if(DEFINED ENV{CAIRN_SYSROOT} AND NOT "$ENV{CAIRN_SYSROOT}" STREQUAL "")
    set(CAIRN_SYSROOT "$ENV{CAIRN_SYSROOT}")
  elseif(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(CAIRN_SYSROOT "$ENV{XDG_CACHE_HOME}/cairn/sysroot-${CAIRN_CROSS_ARCH}")
  else()
    set(CAIRN_SYSROOT "$ENV{HOME}/.cache/cairn/sysroot-${CAIRN_CROSS_ARCH}")
  endif()
endif()
set(CAIRN_SYSROOT "${CAIRN_SYSROOT}" CACHE PATH
    "Debian ${CAIRN_CROSS_ARCH} sysroot made by boards/mksysroot")
if(NOT EXISTS "${CAIRN_SYSROOT}/usr/lib/${CAIRN_CROSS_TRIPLET}")
  message(FATAL_ERROR "no ${CAIRN_CROSS_ARCH} sysroot at ${CAIRN_SYSROOT}: run "
          "boards/mksysroot ${CAIRN_CROSS_ARCH} ${CAIRN_SYSROOT} "
          "(or tools/cross-build ${CAIRN_CROSS_ARCH})")
endif()
# try_compile() projects re-read this file without the cache: hand it on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CAIRN_SYSROOT)

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${CAIRN_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${CAIRN_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${CAIRN_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${CAIRN_CROSS_TRIPLET})

set(CMAKE_SYSROOT "${CAIRN_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${CAIRN_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config: the host's binary, but only the sysroot's .pc files, with
# their paths re-rooted into the sysroot (never the host's data).
set(PKG_CONFIG_EXECUTABLE /usr/bin/pkg-config CACHE FILEPATH "host pkg-config")
set(ENV{PKG_CONFIG_LIBDIR}
    "${CAIRN_SYSROOT}/usr/lib/${CAIRN_CROSS_TRIPLET}/pkgconfig:${CAIRN_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CAIRN_SYSROOT}")

set(CAIRN_QEMU_CPU "${CAIRN_CROSS_QEMU_CPU_DEFAULT}" CACHE STRING
    "qemu CPU model the tests run on")
if(EXISTS /usr/bin/${CAIRN_CROSS_QEMU})
  set(CAIRN_CROSS_QEMU /usr/bin/${CAIRN_CROSS_QEMU})
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${CAIRN_CROSS_QEMU} -cpu ${CAIRN_QEMU_CPU} -L ${CAIRN_SYSROOT})
