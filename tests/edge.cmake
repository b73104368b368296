# edge: cairn-edge (edge/server). integration.edge_chain runs a three-tier
# trust domain with real processes on 127.0.0.1 (cairn-cloud, two
# cairn-edge servers, cairn-agent, the cairn CLI and openssl): attestation
# of each edge to its upstream, intermediate CAs through POST
# /v1/downstream/ca (refused without a downstream entry), scope, the SVID
# chain leaf <- site <- region <- root, JWT keys and bundles flowing
# between tiers, and a restart of an edge while its upstream is down.
if(TARGET cairn-edge AND TARGET cairn-cloud AND TARGET cairn-cli AND
   TARGET cairn-agent)
  add_test(NAME integration.edge_chain
           COMMAND bash ${CAIRN_TEST_DIR}/integration/edge_chain.sh
                   $<TARGET_FILE:cairn-cloud> $<TARGET_FILE:cairn-cli>
                   $<TARGET_FILE:cairn-edge> $<TARGET_FILE:cairn-agent>)
  set_tests_properties(integration.edge_chain PROPERTIES
    TIMEOUT 900 LABELS integration)
endif()
