# TLS session resumption (test_tls_resume.py) against tls_server (tls.cmake): every connection
# after the first is resumed, TLS 1.2 and 1.3, with and without session tickets; and a resumed
# TLS 1.2 handshake does not leave a Nagle client's request waiting for a delayed ACK (run in a
# private network namespace for its own TCP counters; skipped when none can be made).
add_test(NAME tls_resume
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_tls_resume.py
                 --server $<TARGET_FILE:tls_server> ResumptionTest)
set_tests_properties(tls_resume PROPERTIES TIMEOUT 60)
add_test(NAME tls_resume_quickack
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_tls_resume.py
                 --server $<TARGET_FILE:tls_server> --netns QuickAckTest)
set_tests_properties(tls_resume_quickack PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
