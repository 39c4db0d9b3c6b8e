# twostepd's request handling (backend/service.cpp), with the backend's
# network-free libraries (built in fuzz builds without the Beast server).
if(TARGET twostep_relay)
  twostep_fuzzer(fuzz_relay_request fuzz_relay_request.cpp)
  target_link_libraries(fuzz_relay_request PRIVATE twostep::relay)
endif()
# twostepd's configuration file (backend/config.cpp).
if(TARGET twostep_relay)
  twostep_fuzzer(fuzz_relay_config fuzz_relay_config.cpp)
  target_link_libraries(fuzz_relay_config PRIVATE twostep::relay)
endif()
