# federation: integration.federation (tests/integration/federation.sh)
# runs cairn-cloud and cairn-agent on 127.0.0.1: a foreign root for
# fed.example (openssl) stored with `cairn bundle set`, an entry with
# -federatesWith, and a workload (`cairn-agent api fetch x509 -write`,
# `api fetch x509-bundles`) that receives that root as its federated
# bundle, then the replaced root, then none once the entry stops
# federating; as root, a second uid (setpriv) without federation gets none.
if(TARGET cairn-agent AND TARGET cairn-cloud AND TARGET cairn-cli)
  add_test(NAME integration.federation
           COMMAND bash ${CAIRN_TEST_DIR}/integration/federation.sh
                   $<TARGET_FILE:cairn-cloud> $<TARGET_FILE:cairn-cli>
                   $<TARGET_FILE:cairn-agent>)
  set_tests_properties(integration.federation PROPERTIES
    TIMEOUT 900 LABELS integration)
endif()
