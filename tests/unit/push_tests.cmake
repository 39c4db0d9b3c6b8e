# Unit tests for the push protocol's pure crypto and parsing (docs/protocol.md
# sections 2, 3, 6, 7, 8.1, 8.3).
twostep_cmocka_test(test_push_protocol ${CMAKE_CURRENT_LIST_DIR}/test_push_protocol.cpp)
twostep_cmocka_test(test_webauthn ${CMAKE_CURRENT_LIST_DIR}/test_webauthn.cpp)
twostep_cmocka_test(test_push_login ${CMAKE_CURRENT_LIST_DIR}/test_push_login.cpp)
# libtwostep-push sessions (one kept-alive connection per login) against a
# scripted relay on loopback; the built library, dlopened as the module does.
twostep_cmocka_test(test_push_session ${CMAKE_CURRENT_LIST_DIR}/test_push_session.cpp)
target_compile_definitions(test_push_session PRIVATE
  TWOSTEP_PUSH_LIBRARY="$<TARGET_FILE:twostep_push>")
target_include_directories(test_push_session PRIVATE ${PROJECT_SOURCE_DIR}/push_client/include)
target_link_libraries(test_push_session PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
add_dependencies(test_push_session twostep_push)
