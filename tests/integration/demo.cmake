# The demo program (examples/demo): its routes over plain HTTP (test_demo.py) and the chat in a
# real browser (test_demo_browser.js: Node + playwright-core driving Debian's Chromium; the
# wrapper installs playwright-core from npm into the build tree once).
if(TARGET demo)
  add_test(NAME demo_http
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_demo.py
                   --server $<TARGET_FILE:demo>)
  set_tests_properties(demo_http PROPERTIES TIMEOUT 300)

  add_test(NAME demo_browser
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/run_demo_browser.sh
                   ${CMAKE_CURRENT_BINARY_DIR}/node $<TARGET_FILE:demo>)
  # npm's first install (up to 240 s) plus the test (up to 240 s).
  set_tests_properties(demo_browser PROPERTIES TIMEOUT 600)
endif()
