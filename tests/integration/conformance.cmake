# Outside-in HTTP/1.1 conformance audit (RFC 9110/9112): the raw-request battery of
# conformance_cases.py against the echo server, the raw C API server and the demo app, plus
# every llhttp request vector and all of h2o's fuzz corpus (read from ../shared/corpora at
# run time) as a crash/hang/well-formedness check. scripts/http_vs_nginx.py replays the same
# battery against nginx. Needs only the Python standard library.
if(TARGET echo_server AND TARGET http_api_server AND TARGET demo)
  add_test(NAME http_conformance_audit
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_conformance_audit.py
                   --echo $<TARGET_FILE:echo_server>
                   --api $<TARGET_FILE:http_api_server>
                   --demo $<TARGET_FILE:demo>)
  set_tests_properties(http_conformance_audit PROPERTIES TIMEOUT 120)
endif()
