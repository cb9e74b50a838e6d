# HTTP client: fetch_tool (the C API) against eddy's own server, Debian's nginx (static files,
# chunked, redirects, keep-alive reuse seen in nginx's access log), raw Python servers for the
# error cases, and a CONNECT proxy; plus the reverse proxy example.
add_executable(fetch_tool ${CMAKE_CURRENT_SOURCE_DIR}/fetch_tool.c)
target_link_libraries(fetch_tool PRIVATE eddy)
add_test(NAME http_client
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_client.py
                 --fetch $<TARGET_FILE:fetch_tool> --server $<TARGET_FILE:tls_server>
                 --api-server $<TARGET_FILE:http_api_server>)
# The last line of defence, not a speed check: under ASan on a busy 2-core machine the suite
# took over 120 s (69 s alone).
set_tests_properties(http_client PROPERTIES TIMEOUT 300)

if(TARGET reverse_proxy)
  add_test(NAME reverse_proxy_example
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_reverse_proxy.py
                   --proxy $<TARGET_FILE:reverse_proxy> --api-server $<TARGET_FILE:http_api_server>)
  set_tests_properties(reverse_proxy_example PROPERTIES TIMEOUT 120)
endif()
