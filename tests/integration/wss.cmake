# WebSocket over TLS (wss://): ws_test_server with --tls-cert/--tls-key, eddy's client with a
# CA (eddy_ws_options_set_tls) and python3-websockets as clients.
if(TARGET ws_test_server)
  add_test(NAME websocket_tls
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_wss.py
                   --server $<TARGET_FILE:ws_test_server>)
  set_tests_properties(websocket_tls PROPERTIES TIMEOUT 120)
endif()

# Why a WebSocket connect failed (eddy_websocket_connect_error_detail): certificates that do
# not verify, refused or broken handshakes, a refused port, a silent server.
if(TARGET ws_test_server AND TARGET tls_server)
  add_test(NAME websocket_connect_detail
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_ws_connect_detail.py
                   --server $<TARGET_FILE:ws_test_server> --tls-server $<TARGET_FILE:tls_server>)
  set_tests_properties(websocket_connect_detail PROPERTIES TIMEOUT 120)
endif()
