# STARTTLS (eddy_stream_start_tls): starttls_server, a line protocol shaped like SMTP's, as the
# server of Python's ssl module (wrap_socket on the connected socket after the plaintext
# exchange) and as the client of a Python server.
add_executable(starttls_server ${CMAKE_CURRENT_SOURCE_DIR}/starttls_server.c)
target_link_libraries(starttls_server PRIVATE eddy)
add_test(NAME starttls
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_starttls.py
                 --tool $<TARGET_FILE:starttls_server>)
set_tests_properties(starttls PROPERTIES TIMEOUT 120)
