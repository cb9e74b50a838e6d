# Production concerns, end to end (issue 8): threads and processes sharing a port, the PROXY
# protocol (raw v1/v2 headers and HAProxy's send-proxy / send-proxy-v2 when haproxy is
# installed), nginx in front of two eddy processes, graceful shutdown and reload under load.
add_executable(prod_server ${CMAKE_CURRENT_SOURCE_DIR}/prod_server.c)
target_link_libraries(prod_server PRIVATE eddy Threads::Threads)
foreach(_case scaling proxy_protocol graceful proxies fds)
  add_test(NAME production_${_case}
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_production.py
                   --server $<TARGET_FILE:prod_server> ${_case})
  set_tests_properties(production_${_case} PROPERTIES TIMEOUT 120)
endforeach()
# The CI-sized variant of bench/abuse/idle_connections.py (100,000 there): 2,000 idle
# keep-alive connections from 8 source addresses, every one still answering afterwards.
add_test(NAME production_idle_2000
         COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/bench/abuse/idle_connections.py
                 --server $<TARGET_FILE:prod_server> -n 2000 --deadline 100)
set_tests_properties(production_idle_2000 PROPERTIES TIMEOUT 120)
# The issue's full figure, 100,000 idle connections in one process. Where RLIMIT_NOFILE can be
# raised above 100,100 it runs one loop; where it cannot (this project's development container
# caps the hard limit at 20,000 and drops CAP_SYS_RESOURCE), prod_server runs loop threads with
# their own fd tables (--private-fds) and the clients several processes. It reports itself
# skipped (77) only if neither works. Normal build only: 15-60 s.
if(NOT EDDY_SANITIZE)
  add_test(NAME production_idle_100000
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/bench/abuse/idle_connections.py
                   --server $<TARGET_FILE:prod_server> -n 100000 --deadline 400 --skip-if-limited)
  set_tests_properties(production_idle_100000 PROPERTIES TIMEOUT 480 SKIP_RETURN_CODE 77
                       RUN_SERIAL TRUE)
endif()
