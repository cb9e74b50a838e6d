# Cookies, signed values and XSRF tokens (lib/web/cookies.cpp) cross-checked against the real
# Tornado in both directions: cookie_tool exposes the helpers on the command line and
# test_tornado_cookies.py compares them with tornado.web / tornado.httputil.
add_executable(cookie_tool ${CMAKE_CURRENT_SOURCE_DIR}/cookie_tool.cpp)
target_include_directories(cookie_tool PRIVATE ${PROJECT_SOURCE_DIR}/lib)
target_compile_options(cookie_tool PRIVATE ${EDDY_WARNINGS})
target_link_libraries(cookie_tool PRIVATE eddy_objects)

# Debian's python3-tornado lives in the system interpreter; when the Python CMake found cannot
# import tornado (a pyenv or venv one, say) use /usr/bin/python3 if that one can. Without any,
# the test runs anyway and skips itself.
set(EDDY_TORNADO_PYTHON ${Python3_EXECUTABLE})
execute_process(COMMAND ${Python3_EXECUTABLE} -c "import tornado"
                RESULT_VARIABLE _eddy_tornado_rc OUTPUT_QUIET ERROR_QUIET)
if(NOT _eddy_tornado_rc EQUAL 0 AND EXISTS /usr/bin/python3)
  execute_process(COMMAND /usr/bin/python3 -c "import tornado"
                  RESULT_VARIABLE _eddy_tornado_rc OUTPUT_QUIET ERROR_QUIET)
  if(_eddy_tornado_rc EQUAL 0)
    set(EDDY_TORNADO_PYTHON /usr/bin/python3)
  endif()
endif()

add_test(NAME tornado_cookies
         COMMAND ${EDDY_TORNADO_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_tornado_cookies.py
                 --tool $<TARGET_FILE:cookie_tool>)
# Exit status 77 (tornado not importable) shows as "skipped" in ctest.
# One cookie_tool process serves every call (--batch): started once per call, the ASan build's
# start-up made it run past 400 s on a busy host.
set_tests_properties(tornado_cookies PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
