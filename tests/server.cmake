# server: cairn-cloud's configuration loader (srvconf) and the admin gRPC
# service (admin) run in-process against a real store and CA manager.
cairn_unit(srvconf)
target_compile_definitions(test_srvconf PRIVATE
  CAIRN_CONF_DIR="${CMAKE_SOURCE_DIR}/conf")
cairn_unit(admin)
find_package(Threads REQUIRED)
target_link_libraries(test_admin PRIVATE Threads::Threads)
# The configuration loader reads files an operator writes, but also runs
# in `cairn validate` on anything given to it.
cairn_fuzz(srvconf)
