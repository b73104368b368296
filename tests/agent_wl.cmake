# agent_wl: the Workload API of a real cairn-agent syncing from a real
# cairn-cloud (tests/integration/agent_wl.sh): python3-grpcio
# (tests/integration/agent_wl.py) and grpc-go (tests/interop/wl_go/main.go,
# built offline into agent_wl_go/) as clients, entries driven with the
# `cairn` CLI, other uids through setpriv when run as root. The descriptor
# set workload.desc is built by tests/wl.cmake (target cairn_workload_desc)
# in this directory.
if(TARGET cairn-agent AND TARGET cairn-cloud AND TARGET cairn-cli AND
   TARGET cairn_wl)
  add_test(NAME integration.agent_wl
           COMMAND bash ${CAIRN_TEST_DIR}/integration/agent_wl.sh
                   $<TARGET_FILE:cairn-cloud> $<TARGET_FILE:cairn-cli>
                   $<TARGET_FILE:cairn-agent>
                   ${CMAKE_CURRENT_BINARY_DIR}/workload.desc
                   ${CMAKE_SOURCE_DIR}/shared/proto/workload.proto
                   ${CMAKE_CURRENT_BINARY_DIR}/agent_wl_go)
  set_tests_properties(integration.agent_wl PROPERTIES
    TIMEOUT 1200 LABELS integration)
endif()

# The benchmark (tools/bench/agent_wl) on a small scale, so it keeps
# working: 20 entries, 50 calls; it fails only when something does not
# work (no figure is compared with anything).
if(TARGET cairn-agent AND TARGET cairn-cloud AND TARGET cairn-cli AND
   TARGET cairn-bench-wl)
  add_test(NAME bench.agent_wl
           COMMAND bash ${CMAKE_SOURCE_DIR}/tools/bench/agent_wl
                   -b ${CMAKE_BINARY_DIR} -n 20 -c 50)
  set_tests_properties(bench.agent_wl PROPERTIES
    TIMEOUT 300 LABELS "integration;bench")
endif()
