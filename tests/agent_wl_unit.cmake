# agent_wl: cairn-agent's workload side (edge/agent/agent_wl.c). The unit
# test runs it in-process against a small CoAP/DTLS server on 127.0.0.1
# (ephemeral port): entries deltas, batched SVIDs, renewal, refusals,
# malformed answers, session loss, and JWT-SVIDs through a real wl_api with
# the blocking gRPC client on another thread.
if(TARGET cairn_agent_core)
  find_package(Threads REQUIRED)
  cairn_unit(agent_wl)
  target_link_libraries(test_agent_wl PRIVATE cairn_agent_core Threads::Threads)
  set_tests_properties(unit.agent_wl PROPERTIES TIMEOUT 300)
endif()
