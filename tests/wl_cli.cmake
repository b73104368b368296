# wl_cli: cairn-agent's Workload API client subcommands (edge/agent/api_cli.c:
# api fetch x509/jwt/x509-bundles/jwt-bundles, api validate jwt,
# healthcheck) against tests/interop/cairn-wl-server, which serves the
# Workload API and the gRPC health service (edge/agent/wl/wl_health.c).
# Checked with openssl and python3 (json, python3-grpcio for the health
# service); another uid with setpriv when root.
if(TARGET cairn_wl AND TARGET cairn-agent)
  add_test(NAME interop.wl_cli
           COMMAND bash ${CAIRN_TEST_DIR}/interop/wl_cli.sh
                   $<TARGET_FILE:cairn-agent> $<TARGET_FILE:cairn-wl-server>)
  set_tests_properties(interop.wl_cli PROPERTIES TIMEOUT 300)
endif()
