# WebSocket conformance battery (Autobahn|Testsuite fuzzingclient categories 1-7, 9, 10, 12, 13
# and the opening handshake) over raw sockets against the conformance echo server's /ws.
if(TARGET echo_server)
  add_test(NAME websocket_conformance
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_ws_conformance.py
                   --server $<TARGET_FILE:echo_server>)
  set_tests_properties(websocket_conformance PROPERTIES TIMEOUT 180)
endif()
