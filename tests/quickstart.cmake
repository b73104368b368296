# quickstart: tools/quickstart (issue #6). integration.quickstart runs it
# with --no-install --no-build --build-dir <this build dir> (cloud -> edge
# -> agent on 127.0.0.1, an SVID through the Workload API, openssl verify,
# the offline budget, clean stops) and checks its exit status and output,
# --keep, Ctrl-C and a failing step (tests/integration/quickstart.sh).
if(TARGET cairn-edge AND TARGET cairn-cloud AND TARGET cairn-cli AND
   TARGET cairn-agent)
  add_test(NAME integration.quickstart
           COMMAND bash ${CAIRN_TEST_DIR}/integration/quickstart.sh
                   ${CMAKE_SOURCE_DIR}/tools/quickstart ${CMAKE_BINARY_DIR})
  set_tests_properties(integration.quickstart PROPERTIES
    TIMEOUT 600 LABELS integration)
endif()
