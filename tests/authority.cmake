# authority: the server side of the tier protocol. The unit test runs the
# authority in process on 127.0.0.1 (ephemeral port) over a temp store and
# a memory-key CA, with net.h clients on the same libuv loop.
cairn_unit(authority)
set_tests_properties(unit.authority PROPERTIES TIMEOUT 120)
# The one parser of untrusted input the authority owns (bodies are msg's).
cairn_fuzz(authority_since)
