# HTTP server C API behaviour, end to end: a C test server exposing routes that exercise the API
# (http_api_server.c) and a Python driver talking to it over real sockets (test_http_api.py).
add_executable(http_api_server ${CMAKE_CURRENT_SOURCE_DIR}/http_api_server.c)
target_link_libraries(http_api_server PRIVATE eddy)
# examples/cmdline.h: the examples' strict parsers for numeric options.
target_include_directories(http_api_server PRIVATE ${PROJECT_SOURCE_DIR}/examples)
add_test(NAME http_api
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_http_api.py
                 --server $<TARGET_FILE:http_api_server>)
set_tests_properties(http_api PROPERTIES TIMEOUT 300)
