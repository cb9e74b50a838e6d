# WebSocket over TLS (wss://): ws_test_server with --tls-cert/--tls-key, eddy's client with a
# CA (eddy_ws_options_set_tls) and python3-websockets as clients.
if(TARGET ws_test_server)
  add_test(NAME websocket_tls
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_wss.py
                   --server $<TARGET_FILE:ws_test_server>)
  set_tests_properties(websocket_tls PROPERTIES TIMEOUT 120)
endif()
