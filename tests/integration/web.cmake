# The web layer (include/eddy/web.h) end to end: a C test application exposing routes that
# exercise the API (web_test_app.c) and a Python driver talking to it over real sockets
# (test_web.py): routing, life cycle, response API, cookies, XSRF, ETag, gzip, static files.
add_executable(web_test_app ${CMAKE_CURRENT_SOURCE_DIR}/web_test_app.c)
target_link_libraries(web_test_app PRIVATE eddy)
add_test(NAME web
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_web.py
                 --server $<TARGET_FILE:web_test_app>)
set_tests_properties(web PROPERTIES TIMEOUT 300)
