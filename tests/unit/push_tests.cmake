# Unit tests for the push protocol's pure crypto and parsing (docs/protocol.md
# sections 2, 3, 6, 7, 8.1, 8.3).
twostep_cmocka_test(test_push_protocol ${CMAKE_CURRENT_LIST_DIR}/test_push_protocol.cpp)
twostep_cmocka_test(test_webauthn ${CMAKE_CURRENT_LIST_DIR}/test_webauthn.cpp)
twostep_cmocka_test(test_push_login ${CMAKE_CURRENT_LIST_DIR}/test_push_login.cpp)
