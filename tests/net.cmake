# net: CoAP over DTLS. The unit test runs real DTLS handshakes on 127.0.0.1
# (ephemeral ports, one libuv loop); the interop test runs Debian's
# coap-client-gnutls (libcoap3-bin) against cairn-coap-server.
cairn_unit(net)
set_tests_properties(unit.net PROPERTIES TIMEOUT 60)

cairn_tool(cairn-coap-server)
target_include_directories(cairn-coap-server PRIVATE ${CMAKE_SOURCE_DIR}/shared/src)
add_test(NAME interop.coap_client
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/interop/coap_client.sh
                 $<TARGET_FILE:cairn-coap-server>
                 ${CMAKE_CURRENT_BINARY_DIR}/interop-coap-client)
set_tests_properties(interop.coap_client PROPERTIES TIMEOUT 120)
