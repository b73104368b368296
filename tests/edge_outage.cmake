# edge_outage: integration.edge_outage runs cairn-cloud -> cairn-edge ->
# cairn-agent -> a workload (cairn-agent api fetch x509) on 127.0.0.1 with
# short lifetimes (12 s SVIDs, 270 s cloud CA) and takes the cloud away:
# the site keeps issuing fresh SVIDs that verify against the cloud's root,
# restarts from its own store, shows its offline budget in `cairn
# healthcheck -verbose`, and rotates its intermediate once the cloud is
# back. It lasts about four minutes by design (the CA lifetimes).
if(TARGET cairn-edge AND TARGET cairn-cloud AND TARGET cairn-cli AND
   TARGET cairn-agent)
  add_test(NAME integration.edge_outage
           COMMAND bash ${CAIRN_TEST_DIR}/integration/edge_outage.sh
                   $<TARGET_FILE:cairn-cloud> $<TARGET_FILE:cairn-cli>
                   $<TARGET_FILE:cairn-edge> $<TARGET_FILE:cairn-agent>)
  set_tests_properties(integration.edge_outage PROPERTIES
    TIMEOUT 1200 LABELS integration)
endif()

# The issuance benchmark (tools/bench/edge_issue) on a small scale, so it
# keeps working: a real cloud and edge, a bench node attested over the
# protocol, 2 batches of 5 CSRs, short raw loops. It fails only when
# something does not work (no figure is compared with anything).
if(TARGET cairn-edge AND TARGET cairn-cloud AND TARGET cairn-cli AND
   TARGET cairn-bench-edge-issue)
  add_test(NAME bench.edge_issue
           COMMAND bash ${CMAKE_SOURCE_DIR}/tools/bench/edge_issue
                   -b ${CMAKE_BINARY_DIR} -n 5 -k 2 -r 0.05)
  set_tests_properties(bench.edge_issue PROPERTIES
    TIMEOUT 300 LABELS "integration;bench")
endif()
