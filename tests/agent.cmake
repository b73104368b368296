# agent: cairn-agent (edge/agent). test_agent_conf checks the configuration
# loader; test_agent runs the agent's attestation, persistence, renewal and
# bundle handling in-process against a small CoAP/DTLS server on 127.0.0.1
# (real handshakes, ephemeral ports, like unit.net); integration.agent_attest
# runs real cairn-cloud, cairn and cairn-agent processes.
if(TARGET cairn_agent_core)
  cairn_unit(agent_conf)
  target_link_libraries(test_agent_conf PRIVATE cairn_agent_core)
  target_compile_definitions(test_agent_conf PRIVATE
    CAIRN_CONF_DIR="${CMAKE_SOURCE_DIR}/conf")

  cairn_unit(agent)
  target_link_libraries(test_agent PRIVATE cairn_agent_core)
  set_tests_properties(unit.agent PROPERTIES TIMEOUT 120)

  # Needs cairn-cloud serving the agent endpoint (the authority module).
  if(TARGET cairn-cloud AND TARGET cairn-cli AND
     EXISTS ${CMAKE_SOURCE_DIR}/shared/include/cairn/authority.h)
    add_test(NAME integration.agent_attest
             COMMAND bash ${CAIRN_TEST_DIR}/integration/agent_attest.sh
                     $<TARGET_FILE:cairn-cloud> $<TARGET_FILE:cairn-cli>
                     $<TARGET_FILE:cairn-agent>)
    set_tests_properties(integration.agent_attest PROPERTIES
      TIMEOUT 600 LABELS integration)
  else()
    message(STATUS "integration.agent_attest skipped: cairn-cloud does not "
                   "serve the agent endpoint yet")
  endif()
endif()

# The configuration loader's fuzz target (corpus replayed under ctest).
if(TARGET cairn_agent_core)
  cairn_fuzz(agent_conf)
  target_link_libraries(fuzz_agent_conf_replay PRIVATE cairn_agent_core)
  if(CAIRN_FUZZ)
    target_link_libraries(fuzz_agent_conf PRIVATE cairn_agent_core)
  endif()
endif()

# A real CoAP peer (coap-client-gnutls from libcoap3-bin) with the node SVID
# of a real cairn-agent against cairn-cloud's DTLS endpoint.
if(TARGET cairn_agent_core AND TARGET cairn-cloud AND TARGET cairn-cli)
  add_test(NAME integration.coap_peer
           COMMAND bash ${CAIRN_TEST_DIR}/integration/coap_peer.sh
                   $<TARGET_FILE:cairn-cloud> $<TARGET_FILE:cairn-cli>
                   $<TARGET_FILE:cairn-agent>)
  set_tests_properties(integration.coap_peer PROPERTIES
    TIMEOUT 300 LABELS integration)
endif()
