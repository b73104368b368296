# downstream: the upstream side of the downstream (cairn-edge) protocol in
# the authority: POST /v1/downstream/ca, POST /v1/downstream/jwt-key and
# the path scope on minting. Runs the authority in process on 127.0.0.1
# (ephemeral port) with net.h clients, as unit.authority does. The bodies'
# decoders are fuzzed by fuzz.msg_ds_* (tests/msg.cmake).
cairn_unit(downstream)
set_tests_properties(unit.downstream PROPERTIES TIMEOUT 120)
