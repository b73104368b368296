# bundle, jwt: unit tests, fuzz targets, the python3-jwt interop test.
cairn_unit(bundle)
cairn_unit(jwt)
cairn_fuzz(bundle)
cairn_fuzz(jwt)
cairn_tool(cairn-jwttool)
add_test(NAME interop.jwt_python
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/interop/jwt_interop.py
                 $<TARGET_FILE:cairn-jwttool>
                 ${CMAKE_CURRENT_BINARY_DIR}/interop-jwt-python)
