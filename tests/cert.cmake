# cert: unit tests, the certchain fuzz target, the openssl interop test.
cairn_unit(cert)
cairn_tool(cairn-certtool)
target_include_directories(cairn-certtool PRIVATE ${CMAKE_SOURCE_DIR}/shared/src)
add_test(NAME interop.openssl_verify
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/interop/openssl_verify.sh
                 $<TARGET_FILE:cairn-certtool>
                 ${CMAKE_CURRENT_BINARY_DIR}/interop-openssl-verify)
cairn_fuzz(certchain)
