# grpc: the gRPC layer (server + client), the cairn.test.Echo service used
# by its tests, the python3-grpcio interop test and two fuzz targets.
find_package(Threads REQUIRED)

# The echo service: generated protobuf-c code + its implementation.
set(CAIRN_ECHO_PROTO_OUT ${CMAKE_CURRENT_BINARY_DIR}/proto)
cairn_protoc_c(CAIRN_ECHO_PROTO_SOURCES ${CAIRN_TEST_DIR}/proto
               ${CAIRN_ECHO_PROTO_OUT} ${CAIRN_TEST_DIR}/proto/echo.proto)
add_library(cairn_echo STATIC ${CAIRN_ECHO_PROTO_SOURCES}
            ${CAIRN_TEST_DIR}/proto/echo_service.c)
target_include_directories(cairn_echo PUBLIC ${CAIRN_ECHO_PROTO_OUT}
                           ${CAIRN_TEST_DIR}/proto)
target_link_libraries(cairn_echo PUBLIC cairn)

cairn_unit(grpc)
# The rapid-reset test drives a raw nghttp2 client session.
target_link_libraries(test_grpc PRIVATE cairn_echo Threads::Threads
                      PkgConfig::NGHTTP2)

# Un-framing and header parsing; a whole server connection fed with
# untrusted client bytes; the blocking client fed with untrusted server bytes.
cairn_fuzz(grpcframe)
cairn_fuzz(grpcconn)
cairn_fuzz(grpcclient)
target_link_libraries(fuzz_grpcconn_replay PRIVATE cairn_echo)
if(CAIRN_FUZZ)
  target_link_libraries(fuzz_grpcconn PRIVATE cairn_echo)
endif()

# Interop with a real gRPC client (python3-grpcio, gRPC C-core). The Python
# side builds its message classes from a descriptor set of echo.proto.
cairn_tool(cairn-grpc-echo)
target_link_libraries(cairn-grpc-echo PRIVATE cairn_echo)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/echo.desc
  COMMAND ${CAIRN_PROTOC_C} -I${CAIRN_TEST_DIR}/proto
          --descriptor_set_out=${CMAKE_CURRENT_BINARY_DIR}/echo.desc
          ${CAIRN_TEST_DIR}/proto/echo.proto
  DEPENDS ${CAIRN_TEST_DIR}/proto/echo.proto
  VERBATIM)
add_custom_target(cairn_echo_desc ALL
                  DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/echo.desc)
add_test(NAME interop.grpc_python
         COMMAND /usr/bin/python3 ${CAIRN_TEST_DIR}/interop/grpc_python.py
                 $<TARGET_FILE:cairn-grpc-echo>
                 ${CMAKE_CURRENT_BINARY_DIR}/echo.desc)
set_tests_properties(interop.grpc_python PROPERTIES TIMEOUT 120)
