# HTTP/1.1 protocol conformance (RFC 9110/9112) against the echo server, with raw sockets,
# Python's http.client and curl. Needs only the Python standard library.
if(TARGET echo_server)
  add_test(NAME http_protocol
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_protocol.py
                   --server $<TARGET_FILE:echo_server>)
  set_tests_properties(http_protocol PROPERTIES TIMEOUT 300)
endif()
