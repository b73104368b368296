# wl: cairn-agent's Workload API side (edge/agent/wl: workload cache, unix
# workload attestor, SpiffeWorkloadAPI service). unit.wl runs everything
# in-process; the interop tests serve the API from tests/interop/
# cairn-wl-server (a CA in memory, entries for the test's uids, rotation on a
# timer) to real gRPC clients: python3-grpcio (C-core) and grpc-go (Debian's
# golang-google-grpc-dev, built offline in GOPATH mode).
if(TARGET cairn_wl)
  find_package(Threads REQUIRED)
  cairn_unit(wl)
  target_link_libraries(test_wl PRIVATE cairn_wl Threads::Threads)
  set_tests_properties(unit.wl PROPERTIES TIMEOUT 120)

  cairn_tool(cairn-wl-server)
  target_link_libraries(cairn-wl-server PRIVATE cairn_wl)

  # Descriptor set of workload.proto (with struct.proto) for the Python
  # client's message classes.
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/workload.desc
    COMMAND ${CAIRN_PROTOC_C} -I${CMAKE_SOURCE_DIR}/shared/proto
            -I${CAIRN_PROTOBUF_WKT_DIR} --include_imports
            --descriptor_set_out=${CMAKE_CURRENT_BINARY_DIR}/workload.desc
            ${CMAKE_SOURCE_DIR}/shared/proto/workload.proto
    DEPENDS ${CMAKE_SOURCE_DIR}/shared/proto/workload.proto
    VERBATIM)
  add_custom_target(cairn_workload_desc ALL
                    DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/workload.desc)

  # The API fed raw client bytes (seeds recorded from python3-grpcio).
  cairn_fuzz(wlapi)
  target_link_libraries(fuzz_wlapi_replay PRIVATE cairn_wl)
  if(CAIRN_FUZZ)
    target_link_libraries(fuzz_wlapi PRIVATE cairn_wl)
  endif()

  add_test(NAME interop.wl_python
           COMMAND /usr/bin/python3 ${CAIRN_TEST_DIR}/interop/wl_python.py
                   $<TARGET_FILE:cairn-wl-server>
                   ${CMAKE_CURRENT_BINARY_DIR}/workload.desc)
  set_tests_properties(interop.wl_python PROPERTIES TIMEOUT 300)

  add_test(NAME interop.wl_go
           COMMAND bash ${CAIRN_TEST_DIR}/interop/wl_go.sh
                   $<TARGET_FILE:cairn-wl-server>
                   ${CMAKE_SOURCE_DIR}/shared/proto/workload.proto
                   ${CMAKE_CURRENT_BINARY_DIR}/wl_go)
  set_tests_properties(interop.wl_go PROPERTIES TIMEOUT 900)
endif()
