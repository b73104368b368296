# cross_agent: the cross-built cairn-agent under qemu-user in a trust domain
# of NATIVE programs (tests/integration/cross_agent.sh): native cairn-cloud
# and cairn-edge on 127.0.0.1, the qemu agent attests to the edge, native
# clients (cairn-agent api fetch x509, python3-grpcio) fetch its SVID, which
# openssl verifies against the cloud's root through the edge's intermediate.
#
# Cross builds only, and only with -DCAIRN_NATIVE_BUILD_DIR=<native build
# dir> holding cairn-cloud, cairn, cairn-edge and cairn-agent
# (tools/cross-build passes <repo>/build when it has them). Labelled `cross`
# (and `slow`), not `integration`: tools/cross-build --test runs it.
if(CMAKE_CROSSCOMPILING AND TARGET cairn-agent AND TARGET cairn_wl)
  set(CAIRN_NATIVE_BUILD_DIR "" CACHE PATH
      "Native build dir whose cairn-cloud, cairn, cairn-edge and cairn-agent cross.agent_edge runs")
  set(_xa_native "${CAIRN_NATIVE_BUILD_DIR}")
  set(_xa_why "")
  if(_xa_native STREQUAL "")
    set(_xa_why "CAIRN_NATIVE_BUILD_DIR is not set")
  elseif(NOT CMAKE_CROSSCOMPILING_EMULATOR)
    set(_xa_why "no CMAKE_CROSSCOMPILING_EMULATOR")
  else()
    foreach(_xa_bin cloud/cairn-cloud tools/cairn/cairn edge/server/cairn-edge
                    edge/agent/cairn-agent)
      if(NOT EXISTS "${_xa_native}/${_xa_bin}")
        string(APPEND _xa_why " ${_xa_native}/${_xa_bin}")
      endif()
    endforeach()
    if(NOT _xa_why STREQUAL "")
      set(_xa_why "missing native programs:${_xa_why}")
    endif()
  endif()
  if(_xa_why STREQUAL "")
    add_test(NAME cross.agent_edge
             COMMAND bash ${CAIRN_TEST_DIR}/integration/cross_agent.sh
                     ${_xa_native}/cloud/cairn-cloud
                     ${_xa_native}/tools/cairn/cairn
                     ${_xa_native}/edge/server/cairn-edge
                     ${_xa_native}/edge/agent/cairn-agent
                     $<TARGET_FILE:cairn-agent>
                     ${CMAKE_SYSTEM_PROCESSOR}
                     ${CMAKE_CURRENT_BINARY_DIR}/workload.desc
                     ${CMAKE_CROSSCOMPILING_EMULATOR})
    set_tests_properties(cross.agent_edge PROPERTIES
      TIMEOUT 1200 LABELS "cross;slow")
  else()
    message(STATUS "cross.agent_edge not registered: ${_xa_why}")
  endif()
endif()
