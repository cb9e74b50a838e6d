# WebSocket (issue 5): a C test server with several endpoints (ws_test_server.c) driven by raw
# frames and by python3-websockets (test_websocket.py), plus eddy's client against both.
add_executable(ws_test_server ${CMAKE_CURRENT_SOURCE_DIR}/ws_test_server.c)
target_link_libraries(ws_test_server PRIVATE eddy)
add_test(NAME websocket
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_websocket.py
                 --server $<TARGET_FILE:ws_test_server>)
set_tests_properties(websocket PROPERTIES TIMEOUT 120)

# The conformance echo server's /ws.
if(TARGET echo_server)
  add_test(NAME websocket_echo_server
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_websocket_echo.py
                   --server $<TARGET_FILE:echo_server>)
  set_tests_properties(websocket_echo_server PROPERTIES TIMEOUT 60)
endif()
