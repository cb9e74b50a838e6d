# eddy_subprocess_spawn under a web route: examples/command_stream streams a child's output to
# Python's http.client; a client leaving early gets its child killed; a client that reads
# nothing holds the child back on its full pipe.
if(TARGET command_stream)
  add_test(NAME command_stream
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_command_stream.py
                   --tool $<TARGET_FILE:command_stream>)
  set_tests_properties(command_stream PROPERTIES TIMEOUT 120)
endif()
